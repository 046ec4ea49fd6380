output "bucket" {
  value = google_storage_bucket.marsad.name
}

output "image" {
  description = "Image name without tag: IMAGE for deploy/Makefile."
  value       = local.image
}

output "dataflow_service_account" {
  description = "SERVICE_ACCOUNT for deploy/Makefile."
  value       = google_service_account.dataflow.email
}

output "scheduler_job" {
  value = google_cloud_scheduler_job.batch.id
}

output "output" {
  value = local.output
}
