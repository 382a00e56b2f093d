// Fuzzes one native-transport connection (framework/transport/native/session.h) from the client's
// bytes to the server's, with no socket: a fresh Session per input over a test service (a unary
// echo, inline and on the pool, server-streaming, client-streaming and bidi methods:
// h2_test_service.h). Input layout
// (tests/fuzz/make_corpus.py writes seeds in it):
//   byte 0   bit 0: prepend the client preface and an empty SETTINGS; bits 1-2: the Config
//            (test_config); bit 3: the dispatcher admitting one call at a time; bit 4: drain()
//            after the first chunk; bit 5: finish_drain() after the second; bit 6: go_away() after
//            the last; bit 7: close() right after the last chunk, handlers still running
//   byte 1   low 4 bits k: the number of chunk sizes that follow; bit 4: drain() before start()
//   k bytes  chunk sizes (v + 1 bytes each, used in turn; k = 0: everything at once); after
//            kMaxChunks chunks the rest goes in one
//   rest     the client's bytes
// Between chunks the harness runs the I/O loop and waits for the handler pool to finish or to wait
// on the client. Invariants: no crash, UB or leak; the output is well-formed HTTP/2 with gRPC's
// shape (h2_output_check.h); it is at most kOutputBase + kAmplification x the input; after close()
// nothing holds the Session, no admitted call is left unreleased and the worker's budgets count
// nothing of it. A broken one aborts.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dispatch/dispatcher.h"
#include "observability/logging.h"
#include "h2_output_check.h"
#include "h2_test_service.h"
#include "transport/native/session.h"

namespace gryphon::internal::native {
namespace {

constexpr std::size_t kMaxChunks = 64;
constexpr std::size_t kOutputBase = 64 << 10;
constexpr std::size_t kAmplification = 100;
// An input runs in milliseconds; 30 s without progress is a hang, not a starved machine.
constexpr auto kStuck = std::chrono::seconds(30);
using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_h2_connection.cc: invariant broken: %s\n", what.c_str());
  std::abort();
}

// The scheduler state of the pool's one thread: 'S' while it waits on a condition variable.
bool thread_asleep(pid_t tid) {
  char path[64], stat[512];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(tid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::string("cannot read ") + path + ": the harness needs Linux's /proc");
  const ssize_t n = ::read(fd, stat, sizeof stat - 1);
  ::close(fd);
  if (n <= 0) fail(std::string("cannot read ") + path);
  stat[n] = '\0';
  const char* end_of_name = std::strrchr(stat, ')');  // "tid (name) S ..."
  return end_of_name != nullptr && end_of_name[1] == ' ' && end_of_name[2] == 'S';
}

// Built once, never destroyed (the pool's thread lives until exit).
struct World {
  boost::asio::thread_pool pool{1};
  Config configs[4] = {fuzz::test_config(0), fuzz::test_config(1), fuzz::test_config(2),
                       fuzz::test_config(3)};
  std::unique_ptr<Dispatcher> dispatchers[2];
  // Small worker budgets: inputs of a few KiB reach waiting on them and shedding past them.
  WorkerBudgets budgets{64 << 10, 4 << 10};
  std::atomic<std::uint64_t> marker_done{0};
  std::uint64_t marker_posted = 0;
  pid_t pool_tid = 0;
  World() {
    std::promise<pid_t> tid;
    boost::asio::post(pool, [&tid] { tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid))); });
    pool_tid = tid.get_future().get();
    Config quiet;  // handlers that throw are logged: not while fuzzing
    quiet.log_level = "off";
    log::setup(quiet, log::Role::kWorker, 0);
    for (int i = 0; i < 2; ++i) {
      DispatchOptions options;
      options.max_concurrent_rpcs = i == 0 ? 1024 : 1;
      dispatchers[i] = std::make_unique<Dispatcher>(
          options, fuzz::test_services(), std::vector<std::unique_ptr<Interceptor>>{}, pool);
    }
  }
};
World& world() {
  static World* const instance = new World();
  return *instance;
}

// ---------------------------------------------------------------- one connection

class Harness {
 public:
  Harness(const Config& config, Dispatcher& dispatcher, bool drain_first)
      : dispatcher_(dispatcher),
        stream_limit_(config.max_concurrent_streams),
        quiet_(admissions()) {
    Session::Hooks hooks;
    hooks.handshake_done = [this] {
      if (handshakes_++ > 0) fail("handshake_done twice");
    };
    session_ = std::make_shared<Session>(io_, dispatcher, config, "fuzz", std::move(hooks));
    session_->share_worker_budgets(&world().budgets);
    static const bool trace = std::getenv("GRYPHON_FUZZ_TRACE") != nullptr;
    check_.set_trace(trace);
    if (drain_first) session_->drain();  // the slot drains before the handshake ends
    if (!session_->start()) fail("Session::start failed (out of memory?)");
  }

  // False once the connection would close (the client's bytes are no longer read). `settle`:
  // run the loop afterwards, as the connection does before its next read.
  bool feed(const std::uint8_t* data, std::size_t size, bool settle = true) {
    input_ += size;
    const Session::Input input = session_->receive(data, size);
    if (input == Session::Input::kCloseNow) {  // closed at once, nothing more is written
      closed_now_ = true;
      return false;
    }
    if (settle) pump();
    // nghttp2 refuses streams past the limit, and every one it closes leaves the session's map.
    if (session_->open_streams() > stream_limit_) {
      fail(std::to_string(session_->open_streams()) + " open streams over the limit of " +
           std::to_string(stream_limit_) + " (a Stream nghttp2 no longer has is still held)");
    }
    return input == Session::Input::kOk && !session_->done();
  }
  bool closed_now() const { return closed_now_; }

  // Runs the I/O loop until nothing is left to do but wait for the client.
  void pump() {
    auto progress = Clock::now();
    for (;;) {
      const std::size_t ran = poll();
      const auto now = Clock::now();
      if (collect() || ran > 0) {
        progress = now;
        continue;
      }
      // The pool's last call may have posted its end to the loop just before the marker ran.
      if (pool_quiet()) {
        if (poll() == 0) return;
        progress = now;
        continue;
      }
      // Inside a RawStream call and asleep with nothing left for the loop: only the client can
      // wake it (whatever the harness did that could has already notified it, and a notified
      // thread is runnable at once).
      // (What it posted before it slept is in the loop by now: one more turn.)
      if (fuzz::handlers_waiting() > 0 && pool_thread_asleep()) {
        if (poll() == 0) return;
        progress = now;
        continue;
      }
      if (now - progress > kStuck) fail("a handler neither finished nor waited for 30 s");
      std::this_thread::yield();
    }
  }

  Session& session() { return *session_; }

  // The connection is gone: every handler must finish and let go of the session.
  void close_and_check() {
    session_->close();
    const auto start = Clock::now();
    for (;;) {
      const std::size_t ran = poll();
      if (ran == 0 && pool_quiet() && poll() == 0) break;
      if (Clock::now() - start > kStuck)
        fail("handlers still running 10 s after Session::close(): a RawStream call ignores close");
      if (ran == 0) std::this_thread::yield();
    }
    if (session_.use_count() != 1) {
      fail("after close() and a drained loop, " + std::to_string(session_.use_count() - 1) +
           " references to the Session remain (a Stream or posted work leaked)");
    }
    if (const auto in_flight = dispatcher_.stats().in_flight.load(); in_flight != 0)
      fail(std::to_string(in_flight) + " admitted calls were never released");
    const WorkerBudgets& budgets = world().budgets;
    if (budgets.responses.bytes() != 0 || budgets.requests.bytes() != 0) {
      fail("the closed session left " + std::to_string(budgets.responses.bytes()) +
           " response and " + std::to_string(budgets.requests.bytes()) +
           " request bytes counted against the worker's budgets");
    }
    session_.reset();
    check_.finish();
    if (output_ > kOutputBase + kAmplification * input_) {
      fail(std::to_string(output_) + " bytes out for " + std::to_string(input_) +
           " in: more than 64 KiB + 100x the input (amplification)");
    }
  }

 private:
  static bool pool_thread_asleep() { return thread_asleep(world().pool_tid); }

  std::size_t poll() {
    io_.restart();
    return io_.poll();
  }

  std::uint64_t admissions() const {  // calls admitted or refused so far (start_call's admit())
    const DispatchStats& stats = dispatcher_.stats();
    return static_cast<std::uint64_t>(stats.in_flight.load()) + stats.served.load() +
           stats.rejected.load() + stats.refunded.load();
  }

  // True when every call handed to the pool has finished (a marker posted after them has run)
  // and none started since.
  bool pool_quiet() {
    World& w = world();
    const std::uint64_t now = admissions();
    if (now == quiet_ && dispatcher_.stats().in_flight.load() == 0 && marker_ == 0) return true;
    if (marker_ == 0) {
      marker_ = ++w.marker_posted;
      marker_admissions_ = now;
      boost::asio::post(w.pool, [&w, marker = marker_] { w.marker_done.store(marker); });
      return false;
    }
    if (w.marker_done.load() < marker_) return false;
    marker_ = 0;
    quiet_ = marker_admissions_;
    return now == quiet_ && dispatcher_.stats().in_flight.load() == 0;
  }

  // Takes the session's output into the checker. True if there was any.
  bool collect() {
    if (nghttp2_session* raw = session_->raw()) {
      max_frame_ = std::max(
          max_frame_, nghttp2_session_get_remote_settings(raw, NGHTTP2_SETTINGS_MAX_FRAME_SIZE));
    }
    std::string out;
    session_->take_output(out);
    output_ += out.size();
    check_.feed(out, max_frame_);
    return !out.empty();
  }

  boost::asio::io_context io_;
  Dispatcher& dispatcher_;
  std::shared_ptr<Session> session_;
  fuzz::H2OutputCheck check_;
  std::uint32_t max_frame_ = 16384;
  std::size_t input_ = 0, output_ = 0;
  const std::size_t stream_limit_;  // as Session::start() announces it
  std::uint64_t quiet_;             // admissions() when the pool was last seen idle
  std::uint64_t marker_ = 0, marker_admissions_ = 0;
  bool closed_now_ = false;
  int handshakes_ = 0;
};

constexpr std::uint8_t kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

}  // namespace
}  // namespace gryphon::internal::native

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gryphon::internal::native;
  if (size < 2) return 0;
  const std::uint8_t flags = data[0];
  const std::size_t sizes = data[1] & 0x0f;
  if (size < 2 + sizes) return 0;
  const std::uint8_t* chunk_sizes = data + 2;
  const std::uint8_t* wire = data + 2 + sizes;
  std::size_t left = size - 2 - sizes;

  World& w = world();
  Harness harness(w.configs[(flags >> 1) & 3], *w.dispatchers[(flags >> 3) & 1],
                  (data[1] & 0x10) != 0);
  bool open = true;
  if (flags & 1) open = harness.feed(kPreface, sizeof kPreface - 1);
  for (std::size_t chunk = 0; open && left > 0; ++chunk) {
    std::size_t n = left;
    if (sizes > 0 && chunk + 1 < kMaxChunks)
      n = std::min<std::size_t>(left, chunk_sizes[chunk % sizes] + 1u);
    // Bit 7: the last chunk's calls are still running when the connection closes.
    open = harness.feed(wire, n, n < left || !(flags & 0x80));
    wire += n;
    left -= n;
    if (chunk == 0 && (flags & 0x10)) harness.session().drain();
    if (chunk == 1 && (flags & 0x20)) harness.session().finish_drain();
  }
  if (open && (flags & 0x40)) harness.session().go_away(NGHTTP2_ENHANCE_YOUR_CALM, "fuzz");
  if (!harness.closed_now() && !(flags & 0x80)) harness.pump();
  harness.close_and_check();
  return 0;
}
