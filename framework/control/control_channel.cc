#include "control/control_channel.h"

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <istream>

namespace gryphon::internal {

ControlChannel::ControlChannel(boost::asio::io_context& io, int fd)
    : socket_(io, boost::asio::local::stream_protocol(), fd) {}

void ControlChannel::start(OnLine on_line, OnClose on_close) {
  on_line_ = std::move(on_line);
  on_close_ = std::move(on_close);
  read_next();
}

void ControlChannel::read_next() {
  boost::asio::async_read_until(socket_, buffer_, '\n',
                                [this](const boost::system::error_code& ec, std::size_t) {
                                  if (ec) {
                                    if (ec != boost::asio::error::operation_aborted && on_close_)
                                      on_close_();
                                    return;
                                  }
                                  std::istream in(&buffer_);
                                  std::string line;
                                  std::getline(in, line);
                                  on_line_(line);
                                  read_next();
                                });
}

bool ControlChannel::send(const std::string& line) {
  if (!socket_.is_open()) return false;
  boost::system::error_code ec;
  boost::asio::write(socket_, boost::asio::buffer(line + "\n"), ec);
  return !ec;
}

void ControlChannel::close() {
  boost::system::error_code ec;
  socket_.close(ec);
}

}  // namespace gryphon::internal
