# marsad on Google Cloud: bucket, image repository, service accounts, and the hourly
# Cloud Scheduler job that launches the batch Flex Template. See deploy/README.md.

locals {
  bucket      = var.bucket != "" ? var.bucket : "${var.project}-marsad"
  image       = "${var.region}-docker.pkg.dev/${var.project}/${var.repository}/marsad"
  batch_image = "${local.image}:${var.image_tag}"
  batch_spec  = "gs://${local.bucket}/templates/marsad-batch.json"
  output      = "gs://${local.bucket}/out"
  sources     = "gs://${local.bucket}/config/sources.yaml"
  batch_job   = "marsad-batch"
  launch_url  = "https://dataflow.googleapis.com/v1b3/projects/${var.project}/locations/${var.region}/flexTemplates:launch"
  labels      = { app = "marsad" }
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "dataflow.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "storage.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}

resource "google_storage_bucket" "marsad" {
  name                        = local.bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels

  # Dataflow's temp and staging files are not worth keeping.
  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = ["tmp/", "staging/"]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "sources" {
  bucket = google_storage_bucket.marsad.name
  name   = "config/sources.yaml"
  source = var.sources_file
}

resource "google_artifact_registry_repository" "marsad" {
  location      = var.region
  repository_id = var.repository
  format        = "DOCKER"
  description   = "marsad Flex Template images (launcher and worker)"
  labels        = local.labels

  depends_on = [google_project_service.apis]
}
