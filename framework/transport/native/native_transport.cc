#include "transport/native/native_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <unordered_map>
#include <stdexcept>
#include <thread>

#include "observability/logging.h"
#include "os/process.h"
#include "transport/native/connection.h"
#include "transport/readiness.h"

namespace gryphon::internal {
namespace {

using native::Connection;

// ALPN: gRPC runs on h2 only. A client offering other protocols and not h2 is refused; one that
// offers none is served (h2 is the only thing spoken here).
int select_h2(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
              unsigned int in_length, void*) {
  for (unsigned int i = 0; i + 1 <= in_length;) {
    const unsigned int length = in[i];
    if (i + 1 + length > in_length) break;
    if (length == 2 && in[i + 1] == 'h' && in[i + 2] == '2') {
      *out = in + i + 1;
      *out_length = 2;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// An OpenSSL server context from the PEM text the master loaded and checked (transport/tls.h).
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const TlsMaterial& tls) {
  auto context = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  context->set_options(boost::asio::ssl::context::default_workarounds |
                       boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                       boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1 |
                       boost::asio::ssl::context::single_dh_use);
  context->use_certificate_chain(boost::asio::buffer(tls.cert_chain));
  context->use_private_key(boost::asio::buffer(tls.private_key), boost::asio::ssl::context::pem);
  if (tls.client_auth != ClientAuth::kNone) {
    context->add_certificate_authority(boost::asio::buffer(tls.client_ca));
    context->set_verify_mode(tls.client_auth == ClientAuth::kRequire
                                 ? boost::asio::ssl::verify_peer |
                                       boost::asio::ssl::verify_fail_if_no_peer_cert
                                 : boost::asio::ssl::verify_peer);
  }
  SSL_CTX_set_alpn_select_cb(context->native_handle(), select_h2, nullptr);
  return context;
}

// One event loop: a thread, its io_context and the connections it owns.
struct Loop {
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
      boost::asio::make_work_guard(io)};
  std::thread thread;
  std::unordered_map<Connection*, std::shared_ptr<Connection>> connections;  // loop thread only
  bool draining = false;                                                     // loop thread only
};

class NativeTransport final : public Transport {
 public:
  NativeTransport(const Config& config, const TlsMaterial& tls, Dispatcher& dispatcher)
      : config_(config), tls_(tls), dispatcher_(dispatcher), budgets_(config) {
    for (int i = 0; i < std::max(1, config.io_threads); ++i)
      loops_.push_back(std::make_unique<Loop>());
    std::size_t cap = static_cast<std::size_t>(config.hard_max_connections);
    if (cap == 0) {  // keep descriptors for logs, the control socket and accepting the next one
      rlimit files{};
      ::getrlimit(RLIMIT_NOFILE, &files);
      cap = files.rlim_cur > 128 ? static_cast<std::size_t>(files.rlim_cur) - 64 : 64;
    }
    per_loop_cap_ = std::max<std::size_t>(1, (cap + loops_.size() - 1) / loops_.size());
  }
  ~NativeTransport() override { stop_threads(); }

  bool start(std::string* error) override {
    if (tls_.enabled()) {
      try {
        tls_context_ = make_tls_context(tls_);
      } catch (const std::exception& e) {
        *error = std::string("TLS setup failed: ") + e.what() +
                 "; check --tls-cert, --tls-key and --tls-client-ca";
        return false;
      }
    }
    for (std::size_t at = 0; at < loops_.size(); ++at) {
      loops_[at]->thread = std::thread([&io = loops_[at]->io, at] {
        name_this_thread("gryphon-io-" + std::to_string(at));
        io.run();
      });
    }
    return true;
  }

  void serve_connection(int fd, bool tcp) override {
    if (tcp) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    ++open_;
    Loop& loop = *loops_[next_++ % loops_.size()];
    const bool tls = tcp && tls_context_ != nullptr;
    boost::asio::post(loop.io, [this, &loop, fd, tls] {
      if (loop.connections.size() >= per_loop_cap_ && !evict_one_idle(loop)) {
        // Every connection has a stream open: the newest waits for its client to retry.
        log::process()->warn(
            "closing a new connection: {} connections, none idle "
            "(--hard-max-connections)",
            loop.connections.size() * loops_.size());
        ::close(fd);
        --open_;
        return;
      }
      auto socket = tls ? native::make_tls_socket(loop.io, fd, *tls_context_)
                        : native::make_plain_socket(loop.io, fd);
      auto connection = std::make_shared<Connection>(loop.io, std::move(socket), dispatcher_,
                                                     config_, native::describe_peer(fd), &budgets_);
      Connection* raw = connection.get();
      // Whoever closes a connection holds a reference to it: erasing it here does not end it.
      connection->set_on_close([this, &loop, raw] {
        --open_;
        loop.connections.erase(raw);
      });
      loop.connections.emplace(raw, connection);
      connection->start();
      if (loop.draining) connection->drain();
    });
  }

  bool check_ready(std::chrono::milliseconds timeout, std::string* error) override {
    return check_readiness([this](int fd) { serve_connection(fd, false); }, timeout, error);
  }

  std::size_t open_connections() const override { return open_.load(); }

  void begin_drain() override {
    for (auto& loop : loops_) {
      boost::asio::post(loop->io, [&loop = *loop] {
        loop.draining = true;
        // A copy: a connection with nothing left to do closes inside drain(), which erases it.
        const auto all = loop.connections;
        for (const auto& [raw, connection] : all) connection->drain();
      });
    }
  }

  void stop(std::chrono::steady_clock::time_point) override {
    // Calls still running end now (their streams report closed); the loops then stop.
    for (auto& loop : loops_) {
      std::promise<void> closed;
      boost::asio::post(loop->io, [&loop = *loop, &closed] {
        auto all = std::move(loop.connections);
        loop.connections.clear();
        for (const auto& [raw, connection] : all) connection->close();
        closed.set_value();
      });
      closed.get_future().wait();  // a loop is never blocked for long: no deadline needed
    }
    stop_threads();
  }

 private:
  // At the cap: a connection with no stream open makes room (loop thread), first one that never
  // carried a call (a flood of bare handshakes), else the one quiet the longest. Not simply the
  // oldest: a client calling now and then is idle between its calls, and closing it would make
  // it reconnect and close another in turn.
  bool evict_one_idle(Loop& loop) {
    Connection* oldest = nullptr;
    for (const auto& [raw, connection] : loop.connections) {
      if (connection->idle() &&
          (oldest == nullptr || connection->eviction_order() < oldest->eviction_order()))
        oldest = raw;
    }
    if (oldest == nullptr) return false;
    const auto keep = loop.connections.at(oldest);  // evict() may close and erase it
    loop.connections.erase(oldest);                 // no longer counted against the cap
    keep->evict();
    return true;
  }

  void stop_threads() {
    for (auto& loop : loops_) {
      loop->work.reset();
      if (loop->thread.joinable()) {
        loop->io.stop();
        loop->thread.join();
      }
    }
  }

  const Config& config_;
  const TlsMaterial& tls_;
  Dispatcher& dispatcher_;
  std::unique_ptr<boost::asio::ssl::context> tls_context_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::size_t next_ = 0;           // round robin over the loops (main thread only)
  std::size_t per_loop_cap_ = 0;   // --hard-max-connections shared out over the loops
  native::WorkerBudgets budgets_;  // response and request bytes of all loops' connections
  std::atomic<std::size_t> open_{0};
};

}  // namespace

std::unique_ptr<Transport> make_native_transport(const Config& config, const TlsMaterial& tls,
                                                 Dispatcher& dispatcher) {
  return std::make_unique<NativeTransport>(config, tls, dispatcher);
}

}  // namespace gryphon::internal
