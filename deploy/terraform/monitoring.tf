# Alerts from logs: a failed Dataflow run, and a launch the scheduler could not make.

resource "google_monitoring_notification_channel" "email" {
  count        = var.alert_email == "" ? 0 : 1
  display_name = "marsad alerts"
  type         = "email"
  labels       = { email_address = var.alert_email }
}

locals {
  channels = [for c in google_monitoring_notification_channel.email : c.id]
}

resource "google_monitoring_alert_policy" "run_failed" {
  display_name          = "marsad: Dataflow run failed"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "Dataflow job of marsad logged an error"
    condition_matched_log {
      filter = <<-EOT
        resource.type="dataflow_step"
        resource.labels.job_name=~"^marsad-"
        log_id("dataflow.googleapis.com/job-message")
        severity>=ERROR
      EOT
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }

  documentation {
    content   = "A marsad Dataflow job failed. Open the job in the Dataflow console (Logs > Job logs); the launcher's own log is under gs://${local.bucket}/staging/template_launches/<job id>/console_logs."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "launch_failed" {
  display_name          = "marsad: scheduled launch failed"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "Cloud Scheduler could not launch the batch template"
    condition_matched_log {
      filter = <<-EOT
        resource.type="cloud_scheduler_job"
        resource.labels.job_id="${google_cloud_scheduler_job.batch.name}"
        severity>=ERROR
      EOT
    }
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }

  documentation {
    content   = "The hourly launch of marsad failed: HTTP 409 means the previous run (job name marsad-batch) was still active; 403 a missing IAM role (deploy/README.md, IAM)."
    mime_type = "text/markdown"
  }
}
