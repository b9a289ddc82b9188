# prs GPU workers, scaled by the Nomad Autoscaler from prs exporter's
# prs_queue_desired_workers (prs-exporter.nomad.hcl), from 0 up to 20.
#
# The policy uses the pass-through strategy: the query's value is the
# count. The target-value strategy computes metric / target x current
# count, which stays 0 once the group is at 0, so it could never start
# the first worker; prs_queue_desired_workers already is the number of
# workers wanted, ceil((waiting + in flight) / slots per worker).
#
# On scale-in Nomad sends SIGTERM to the allocations it stops and waits
# kill_timeout; a worker drains (its slots finish their mini-batches)
# within --drain-timeout, so kill_timeout is longer. Nomad clients cap
# kill_timeout at their max_kill_timeout (30s unless set): set
# `max_kill_timeout = "6m"` in the client configuration of GPU nodes.
#
# Secrets come from the Nomad Variable nomad/jobs/prs-worker (keys
# nats_password, aws_access_key_id, aws_secret_access_key); NATS is the
# Nomad service "nats".
job "prs-worker" {
  type = "service"

  group "workers" {
    count = 0

    scaling {
      enabled = true
      min     = 0
      max     = 20

      policy {
        evaluation_interval = "15s"
        cooldown            = "2m"

        check "desired_workers" {
          source = "prometheus"
          # One value: the exporter's figure (max over exporter replicas).
          # With no exporter answering the query has no value and the
          # autoscaler leaves the count as it is.
          query = "max(prs_queue_desired_workers)"

          strategy "pass-through" {}
        }
      }
    }

    task "worker" {
      driver       = "docker"
      kill_signal  = "SIGTERM"
      kill_timeout = "330s"

      config {
        image = "prs:0.1.0-cuda13"
        args = [
          "worker",
          "--slots", "2",
          "--drain-timeout", "5m",
          "--work-dir", "/work",
          "--metrics-addr", ":9090",
          "--log-format", "json",
        ]
      }

      env {
        PRS_NATS_USER = "prs-worker"
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
          {{ with nomadVar "nomad/jobs/prs-worker" }}
          PRS_NATS_PASSWORD={{ .nats_password }}
          AWS_ACCESS_KEY_ID={{ .aws_access_key_id }}
          AWS_SECRET_ACCESS_KEY={{ .aws_secret_access_key }}
          {{ end }}
        EOT
      }

      resources {
        cpu    = 4000
        memory = 8192

        device "nvidia/gpu" {
          count = 1
        }
      }
    }
  }
}
