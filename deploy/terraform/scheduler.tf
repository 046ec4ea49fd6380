# Hourly batch: Cloud Scheduler POSTs a fixed body to the Flex Template launch API with
# an OAuth token of marsad-scheduler. The body never changes: each run takes its run id
# and dates from the clock, and reads what earlier runs left in the output.
#
# The job name is fixed on purpose: Dataflow refuses to create a job while another
# *active* job has the same name, so an overrunning run makes the next launch fail
# (visible in the scheduler's logs) instead of two runs writing one output.

resource "google_cloud_scheduler_job" "batch" {
  name             = "marsad-batch-hourly"
  description      = "Launch one incremental marsad batch run on Dataflow"
  schedule         = var.schedule
  time_zone        = var.time_zone
  region           = var.region
  attempt_deadline = "320s"
  paused           = var.schedule_paused

  retry_config {
    retry_count = 0 # the next slot is the retry; a retry could collide with a late run
  }

  http_target {
    http_method = "POST"
    uri         = local.launch_url
    headers     = { "Content-Type" = "application/json" }
    body = base64encode(jsonencode({
      launchParameter = {
        jobName              = local.batch_job
        containerSpecGcsPath = local.batch_spec
        parameters = merge({
          output              = local.output
          sources             = local.sources
          sdk_container_image = local.batch_image
        }, var.extra_parameters)
        environment = {
          serviceAccountEmail  = google_service_account.dataflow.email
          tempLocation         = "gs://${local.bucket}/tmp"
          stagingLocation      = "gs://${local.bucket}/staging"
          machineType          = var.machine_type
          maxWorkers           = var.max_workers
          additionalUserLabels = local.labels
        }
      }
    }))

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.scheduler_dataflow,
    google_service_account_iam_member.scheduler_acts_as_dataflow,
  ]
}
