# The producer as a batch job: prs submit --wait records the job,
# publishes its mini-batches and follows it; the allocation succeeds only
# when the job completes. Submitting the same --job-id again resumes the
# job. The job's configuration and entry script are the templates below
# (the quick-start word count over an S3 prefix): replace them with yours.
# Secrets come from the Nomad Variable nomad/jobs/prs-submit (keys
# nats_password, aws_access_key_id, aws_secret_access_key).
job "prs-submit" {
  type = "batch"

  group "submit" {
    count = 1

    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 3
      interval  = "1h"
      unlimited = false
    }

    task "submit" {
      driver = "docker"

      config {
        image = "prs:0.1.0-cpu"
        args = [
          "submit",
          "--config", "/local/job.yaml",
          "--job-id", "quickstart-1",
          "--wait",
        ]
      }

      env {
        PRS_NATS_USER = "prs-producer"
        AWS_REGION    = "us-east-1"
      }

      template {
        destination = "local/nats.env"
        env         = true
        data        = <<-EOT
          PRS_NATS_URL={{ range $i, $s := nomadService "nats" }}{{ if $i }},{{ end }}nats://{{ .Address }}:{{ .Port }}{{ end }}
        EOT
      }

      template {
        destination = "secrets/prs.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/prs-submit" }}
          PRS_NATS_PASSWORD={{ .nats_password }}
          AWS_ACCESS_KEY_ID={{ .aws_access_key_id }}
          AWS_SECRET_ACCESS_KEY={{ .aws_secret_access_key }}
          {{ end }}
        EOT
      }

      template {
        destination = "local/job.yaml"
        data        = <<-EOT
          entry_script: /local/score.py
          input: s3://prs/input
          output: s3://prs/output/quickstart
          mini_batch_size: 7
          error_threshold: 0
          run_invocation_timeout: 30
          run_max_try: 3
          arguments: ["--min-words", "0"]
        EOT
      }

      template {
        destination = "local/score.py"
        data        = <<-EOT
          """Quick-start entry script: the ParallelRunStep contract.

          init() runs once per worker slot, run(mini_batch) once per mini-batch with the
          local paths of its files; each returned element is one row of the output.
          """
          import argparse
          import os

          from azureml_user.parallel_run import EntryScript

          args = None
          logger = None


          def init():
              global args, logger
              parser = argparse.ArgumentParser()
              parser.add_argument("--min-words", type=int, default=0)
              args, _ = parser.parse_known_args()
              logger = EntryScript().logger
              logger.info("init: counting words, min %d", args.min_words)


          def run(mini_batch):
              rows = []
              for path in mini_batch:
                  with open(path, encoding="utf-8") as f:
                      n = len(f.read().split())
                  if n >= args.min_words:
                      rows.append(f"{os.path.basename(path)}: {n} words")
              return rows
        EOT
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
