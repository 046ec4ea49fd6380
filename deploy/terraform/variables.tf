variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region for the bucket, the image repository, Dataflow jobs and the scheduler."
  type        = string
  default     = "europe-west1"
}

variable "bucket" {
  description = "Bucket for output, templates, temp and staging (default: <project>-marsad)."
  type        = string
  default     = ""
}

variable "repository" {
  description = "Artifact Registry (Docker) repository holding the Flex Template image."
  type        = string
  default     = "marsad"
}

variable "image_tag" {
  description = "Tag of the batch image pushed by `make -f deploy/Makefile image` (e.g. <git sha>-batch)."
  type        = string
}

variable "schedule" {
  description = "Cron schedule of the batch run (minute 7 of every hour by default)."
  type        = string
  default     = "7 * * * *"
}

variable "schedule_paused" {
  description = "Create the scheduler job paused (until the image and template spec exist)."
  type        = bool
  default     = false
}

variable "time_zone" {
  description = "Time zone of the schedule."
  type        = string
  default     = "Etc/UTC"
}

variable "machine_type" {
  description = "Dataflow worker machine type. Fetching is I/O bound: small machines do."
  type        = string
  default     = "e2-standard-2"
}

variable "max_workers" {
  description = "Autoscaling ceiling of a batch run (the cost cap)."
  type        = number
  default     = 3
}

variable "extra_parameters" {
  description = "More template parameters for the scheduled run (see deploy/flex/batch.metadata.json)."
  type        = map(string)
  default     = {}
}

variable "alert_email" {
  description = "Where failed-run alerts go (empty: alert policies without a notification channel)."
  type        = string
  default     = ""
}

variable "sources_file" {
  description = "Local sources file uploaded to gs://<bucket>/config/sources.yaml."
  type        = string
  default     = "../../marsad/sources/default.yaml"
}
