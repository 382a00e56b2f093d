// Helpers for building Prometheus text with prometheus-cpp's serializer and no registry (the
// master starts no threads, so it assembles metric families itself and serialises them).
#pragma once

#include <prometheus/metric_family.h>

#include <string>

namespace gryphon::internal {

inline prometheus::MetricFamily prometheus_family(std::string name, std::string help,
                                                  prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

}  // namespace gryphon::internal
