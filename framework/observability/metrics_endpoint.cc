#include "observability/metrics_endpoint.h"

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <memory>

#include "observability/logging.h"

namespace gryphon::internal {
namespace {

constexpr std::size_t kMaxRequest = 8192;

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(boost::asio::ip::tcp::socket socket, const MetricsEndpoint::Render& render)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buffer_(kMaxRequest),
        render_(render) {}

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(std::chrono::seconds(5));
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (!ec) self->socket_.close();
    });
    boost::asio::async_read_until(
        socket_, buffer_, "\r\n\r\n",
        [self](const boost::system::error_code& ec, std::size_t) { self->respond(ec); });
  }

 private:
  void respond(const boost::system::error_code& ec) {
    if (ec == boost::asio::error::not_found) {
      reply("431 Request Header Fields Too Large", "text/plain", "request too large\n");
      return;
    }
    if (ec) {
      timer_.cancel();
      return;
    }
    std::istream in(&buffer_);
    std::string method, target;
    in >> method >> target;
    if (method != "GET" && method != "HEAD") {
      reply("405 Method Not Allowed", "text/plain", "only GET /metrics is served here\n");
    } else if (target != "/metrics") {
      reply("404 Not Found", "text/plain", "only /metrics is served here\n");
    } else {
      std::string body = render_();
      reply("200 OK", "text/plain; version=0.0.4; charset=utf-8",
            method == "HEAD" ? std::string() : std::move(body));
    }
  }

  void reply(const std::string& status, const std::string& type, std::string body) {
    response_ = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                "\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\nConnection: close\r\n\r\n" + body;
    auto self = shared_from_this();
    boost::asio::async_write(socket_, boost::asio::buffer(response_),
                             [self](const boost::system::error_code&, std::size_t) {
                               boost::system::error_code ignored;
                               self->socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both,
                                                      ignored);
                               self->socket_.close(ignored);
                               self->timer_.cancel();
                             });
  }

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  boost::asio::streambuf buffer_;
  const MetricsEndpoint::Render& render_;
  std::string response_;
};

}  // namespace

MetricsEndpoint::MetricsEndpoint(boost::asio::io_context& io, const std::string& address,
                                 Render render, int inherited_fd)
    : acceptor_(io), render_(std::move(render)) {
  if (inherited_fd >= 0) {
    sockaddr_storage bound{};
    socklen_t length = sizeof(bound);
    if (::getsockname(inherited_fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
      throw std::runtime_error("--metrics-address " + address +
                               ": the inherited socket is unusable: " + std::strerror(errno));
    }
    acceptor_.assign(
        bound.ss_family == AF_INET6 ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(),
        inherited_fd);
  } else {
    const ListenAddress parsed = ListenAddress::parse(address);
    boost::system::error_code ec;
    auto ip =
        boost::asio::ip::make_address(parsed.host == "localhost" ? "127.0.0.1" : parsed.host, ec);
    if (ec)
      throw std::runtime_error("--metrics-address " + address + ": '" + parsed.host +
                               "' is not an IP address");
    const boost::asio::ip::tcp::endpoint endpoint(ip, parsed.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint, ec);
    if (ec) {
      throw std::runtime_error(
          "--metrics-address " + address + ": " + ec.message() +
          "; choose another address or pass --metrics-address '' to disable metrics");
    }
    acceptor_.listen();
  }
  ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
  accept();
}

std::string MetricsEndpoint::address() const {
  const auto endpoint = acceptor_.local_endpoint();
  const std::string host = endpoint.address().to_string();
  return (endpoint.address().is_v6() ? "[" + host + "]" : host) + ":" +
         std::to_string(endpoint.port());
}

void MetricsEndpoint::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void MetricsEndpoint::accept() {
  acceptor_.async_accept(
      [this](const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket) {
        if (ec == boost::asio::error::operation_aborted) return;
        if (!ec) std::make_shared<Exchange>(std::move(socket), render_)->start();
        accept();
      });
}

}  // namespace gryphon::internal
