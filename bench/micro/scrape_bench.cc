// How long the master takes to produce /metrics for many workers and methods: the per-slot
// shared-memory segments are summed and serialised with prometheus-cpp, as a scrape does.
//   bench_metrics_scrape [--slots 8] [--methods 50] [--scrapes 200]
// Prints the median and worst time per scrape and the size of the text.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "observability/rpc_metrics_store.h"

int main(int argc, char** argv) {
  int slots = 8, methods = 50, scrapes = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const int value = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--slots") == 0)
      slots = value;
    else if (std::strcmp(argv[i], "--methods") == 0)
      methods = value;
    else if (std::strcmp(argv[i], "--scrapes") == 0)
      scrapes = value;
    else {
      std::fprintf(stderr, "error: unknown option %s (use --slots, --methods, --scrapes)\n",
                   argv[i]);
      return 2;
    }
  }
  if (slots < 1 || methods < 1 || scrapes < 1) {
    std::fprintf(stderr, "error: --slots, --methods and --scrapes must be at least 1\n");
    return 2;
  }
  std::vector<gryphon::internal::MethodLabels> layout;
  for (int m = 0; m < methods; ++m) {
    layout.push_back({"bench.Service" + std::to_string(m % 5), "Method" + std::to_string(m),
                      gryphon::RpcType::kUnary});
  }
  gryphon::internal::RpcMetricsStore store(layout, gryphon::internal::default_buckets());
  for (int s = 0; s < slots; ++s) {
    store.ensure_slot(s);
    for (int m = 0; m < methods; ++m) {
      auto* counters = store.counters(s, layout[m].service, layout[m].method);
      for (int i = 0; i < 100; ++i) {
        counters->started.fetch_add(1);
        store.record(*counters, static_cast<grpc::StatusCode>(i % 17), 1, 1,
                     std::chrono::microseconds(37 * i));
      }
    }
  }
  std::vector<double> ms;
  std::size_t bytes = 0;
  for (int i = 0; i < scrapes; ++i) {
    const auto start = std::chrono::steady_clock::now();
    bytes = store.render().size();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "scrape of %d slots x %d methods: median %.2f ms, worst %.2f ms, %zu bytes (%d scrapes)\n",
      slots, methods, ms[ms.size() / 2], ms.back(), bytes, scrapes);
  return 0;
}
