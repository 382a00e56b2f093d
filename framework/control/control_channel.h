// ControlChannel: the line transport between the master and one worker over a socketpair. What
// the lines say is control_protocol.h's business. Both ends run it on their single Asio loop
// thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/streambuf.hpp>
#include <functional>
#include <string>

namespace gryphon::internal {

class ControlChannel {
 public:
  using OnLine = std::function<void(const std::string& line)>;
  using OnClose = std::function<void()>;

  ControlChannel(boost::asio::io_context& io, int fd);
  // Starts reading; on_line for each complete line, on_close once at EOF or error.
  void start(OnLine on_line, OnClose on_close);
  // Sends one line; returns false if the peer is gone.
  bool send(const std::string& line);
  void close();

 private:
  void read_next();

  boost::asio::local::stream_protocol::socket socket_;
  boost::asio::streambuf buffer_;
  OnLine on_line_;
  OnClose on_close_;
};

}  // namespace gryphon::internal
