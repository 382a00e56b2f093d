// Small process-level helpers shared by the master and the workers: signal delivery through a
// signalfd on the Asio loop, process titles, and resource readings.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <initializer_list>
#include <string>

namespace gryphon::internal {

// Delivers the given signals to a callback on the Asio loop. The signals are blocked in the
// calling thread (and so in every thread it creates afterwards) and read from a signalfd.
class SignalWatcher {
 public:
  SignalWatcher(boost::asio::io_context& io, std::initializer_list<int> signals,
                std::function<void(int)> on_signal);

 private:
  void wait();
  boost::asio::posix::stream_descriptor fd_;
  std::function<void(int)> on_signal_;
};

// Blocks every signal in the calling thread; threads created afterwards inherit the mask.
void block_all_signals();
// Restores the default disposition and an empty mask (before exec or in a fresh child).
void unblock_all_signals();

// Remembers argv's memory so set_process_title() can overwrite what `ps` shows.
void init_process_title(int argc, char** argv);
void set_process_title(const std::string& title);

// Names the calling thread as `top -H`, `ps -L` and /proc/<pid>/task/<tid>/comm show it
// (at most 15 characters are kept).
void name_this_thread(const std::string& name);

// Resident set size of this process, in bytes.
std::uint64_t resident_bytes();

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
std::uint64_t raise_open_file_limit();

// "exited with code 3", "killed by SIGKILL".
std::string describe_wait_status(int status);

}  // namespace gryphon::internal
