# Two identities, least privilege:
#   marsad-dataflow   runs the template launcher VM and the Dataflow workers
#   marsad-scheduler  is what Cloud Scheduler authenticates as to launch a run

resource "google_service_account" "dataflow" {
  account_id   = "marsad-dataflow"
  display_name = "marsad Dataflow launcher and workers"
}

resource "google_service_account" "scheduler" {
  account_id   = "marsad-scheduler"
  display_name = "marsad Cloud Scheduler launcher"
}

# Workers: run Dataflow work items, write logs and metrics (project scope; no narrower
# scope exists for this role).
resource "google_project_iam_member" "dataflow_worker" {
  project = var.project
  role    = "roles/dataflow.worker"
  member  = "serviceAccount:${google_service_account.dataflow.email}"
}

# Read and write objects in the marsad bucket only: output, state, temp, staging.
resource "google_storage_bucket_iam_member" "dataflow_objects" {
  bucket = google_storage_bucket.marsad.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.dataflow.email}"
}

# Pull the image (launcher and worker) from this repository only.
resource "google_artifact_registry_repository_iam_member" "dataflow_pull" {
  location   = google_artifact_registry_repository.marsad.location
  repository = google_artifact_registry_repository.marsad.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.dataflow.email}"
}

# Scheduler: create Dataflow jobs in this project ...
resource "google_project_iam_member" "scheduler_dataflow" {
  project = var.project
  role    = "roles/dataflow.developer"
  member  = "serviceAccount:${google_service_account.scheduler.email}"
}

# ... read the template spec ...
resource "google_storage_bucket_iam_member" "scheduler_spec" {
  bucket = google_storage_bucket.marsad.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.scheduler.email}"
}

# ... and run them as marsad-dataflow (actAs on that one account, not project-wide).
resource "google_service_account_iam_member" "scheduler_acts_as_dataflow" {
  service_account_id = google_service_account.dataflow.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.scheduler.email}"
}
