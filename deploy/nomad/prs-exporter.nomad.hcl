# prs exporter: the work queue as Prometheus metrics, read from JetStream
# alone, at :9091/metrics, registered as the Nomad service "prs-exporter"
# for Prometheus to scrape (nomad_sd_configs). The Nomad Autoscaler's
# Prometheus source then queries prs_queue_desired_workers.
# --slots-per-worker is the workers' --slots and --max-workers the worker
# group's scaling max.
job "prs-exporter" {
  type = "service"

  group "exporter" {
    count = 1

    network {
      port "metrics" {
        static = 9091
      }
    }

    service {
      name     = "prs-exporter"
      port     = "metrics"
      provider = "nomad"
      tags     = ["prometheus"]
    }

    task "exporter" {
      driver = "docker"

      config {
        image = "prs:0.1.0-cpu"
        ports = ["metrics"]
        args = [
          "exporter",
          "--metrics-addr", ":9091",
          "--slots-per-worker", "2",
          "--max-workers", "20",
          "--log-format", "json",
        ]
      }

      env {
        PRS_NATS_USER = "prs-exporter"
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
          {{ with nomadVar "nomad/jobs/prs-exporter" }}
          PRS_NATS_PASSWORD={{ .nats_password }}
          {{ end }}
        EOT
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
