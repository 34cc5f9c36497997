#include "server/front_loop.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/strings.h"
#include "logging/log.h"

namespace hw::server {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr auto kTickInterval = std::chrono::milliseconds(100);
// Upstream descriptors (awaited, or idle in the lane afterwards) are registered with this bit
// set in their event data, so a turn can tell them apart without a lookup.
constexpr std::uint64_t kUpstreamTag = std::uint64_t{1} << 32;
constexpr std::uint64_t kHandled = ~std::uint64_t{0};
constexpr int kMaxEvents = 256;  // per epoll_wait
// Expired connections closed in one pass; more wait for the next, after the loop's events.
constexpr std::size_t kExpiredPerPass = 256;

// The peer's address as text (what the auth gate counts basic-auth failures by), from what
// accept4 filled in: no getpeername or getnameinfo per connection. An IPv4 client of the
// dual-stack listener reads "::ffff:a.b.c.d", as getnameinfo wrote it; a link-local IPv6
// peer's zone ("%eth0") is left out. Empty for a family other than IPv4 and IPv6.
std::string AddressText(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  const void* bytes = nullptr;
  if (addr.ss_family == AF_INET) {
    bytes = &reinterpret_cast<const sockaddr_in&>(addr).sin_addr;
  } else if (addr.ss_family == AF_INET6) {
    bytes = &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr;
  }
  if (bytes == nullptr || ::inet_ntop(addr.ss_family, bytes, text, sizeof text) == nullptr) {
    return {};
  }
  return text;
}

}  // namespace

Expected<std::unique_ptr<FrontLoop>> FrontLoop::Create(int listen_fd, Options options,
                                                       Dispatch dispatch, Tick tick,
                                                       ServeHere serve_here, Place place,
                                                       Stray stray) {
  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return Error{fmt::format("epoll_create1: {}", std::strerror(errno))};
  int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    ::close(epoll_fd);
    return Error{fmt::format("eventfd: {}", std::strerror(errno))};
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (listen_fd >= 0) {
    int flags = ::fcntl(listen_fd, F_GETFL);
    ::fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK);
    ev.data.fd = listen_fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
  }
  ev.data.fd = wake_fd;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);
  return std::unique_ptr<FrontLoop>(
      new FrontLoop(listen_fd, epoll_fd, wake_fd, options, std::move(dispatch), std::move(tick),
                    std::move(serve_here), std::move(place), std::move(stray)));
}

FrontLoop::FrontLoop(int listen_fd, int epoll_fd, int wake_fd, Options options, Dispatch dispatch,
                     Tick tick, ServeHere serve_here, Place place, Stray stray)
    : listen_fd_(listen_fd),
      epoll_fd_(epoll_fd),
      wake_fd_(wake_fd),
      options_(options),
      dispatch_(std::move(dispatch)),
      tick_(std::move(tick)),
      serve_here_(std::move(serve_here)),
      place_(std::move(place)),
      stray_(std::move(stray)) {}

FrontLoop::~FrontLoop() {
  for (auto& [fd, held] : held_connections_) ::close(fd);
  {
    std::lock_guard lock(returned_mutex_);
    for (auto& c : returned_) ::close(c.fd);
  }
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void FrontLoop::Run() {
  running_.store(true);
  epoll_event events[kMaxEvents];
  auto next_tick = Clock::now() + kTickInterval;
  bool woke_for_events = false;
  while (!stop_.load()) {
    if (before_wait_) before_wait_();
    // Connections made ready meanwhile (a store write failed) are served without sleeping.
    // Likewise when a pass left expired connections for the next one.
    const int wait_ms =
        ready_.empty() && !expiry_left_ ? static_cast<int>(kTickInterval.count()) : 0;
    int n = 0;
    if (wait_ms > 0 && options_.spin.count() > 0 && woke_for_events && kept_ &&
        held_connections_.size() == 1) {
      // A lone client served here: its next request, or the function's answer to it, usually
      // comes within microseconds; polling for it a moment saves a sleeping thread's wake-up.
      // (One a worker serves, as in the fork modes, is not waited for: the loop sleeps.)
      const auto until = Clock::now() + options_.spin;
      do {
        n = ::epoll_wait(epoll_fd_, events, kMaxEvents, 0);
      } while (n == 0 && Clock::now() < until);
    }
    if (n == 0) n = ::epoll_wait(epoll_fd_, events, kMaxEvents, wait_ms);
    woke_for_events = n > 0;
    kept_ = false;
    if (n < 0) {
      if (errno == EINTR) continue;  // nothing was reported: wait again before serving
      log::Error(fmt::format("epoll_wait: {}", std::strerror(errno)));
      break;
    }
    // First the idle upstream connections the function closed: a request served this turn
    // must not be given one (the lane trusts connections kept before this wait; see
    // InvocationLane::Waited).
    for (int i = 0; i < n; ++i) {
      const std::uint64_t data = events[i].data.u64;
      if ((data & kUpstreamTag) == 0 || data == kHandled) continue;
      const int fd = static_cast<int>(data & 0xffffffffu);
      if (awaited_.Has(fd)) continue;
      if (!(stray_ && stray_(fd))) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      events[i].data.u64 = kHandled;
    }
    // A full batch may have left events out, an idle connection's end of file among them.
    if (after_wait_) after_wait_(n < kMaxEvents);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t data = events[i].data.u64;
      if (data == kHandled) continue;
      const int fd = static_cast<int>(data & 0xffffffffu);
      // Awaited whatever the tag says: an event for a number closed and reused within this
      // batch (a client's, now a new upstream connection's) must not unwatch the new one.
      if (awaited_.Has(fd)) {
        OnUpstream(fd);
      } else if (fd == listen_fd_) {
        AcceptAll();
      } else if (fd == wake_fd_) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
        TakeReturned();
      } else if (held_connections_.count(fd) != 0) {
        OnReadable(fd);
      } else if (!(stray_ && stray_(fd))) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // nobody's: not watched further
      }
    }
    ServeReady();
    if (!accepting_.load() && !listener_closed_) {
      CloseListener();
      std::vector<int> fds;
      std::vector<int> running;  // admitted requests waiting on the function: a worker ends them
      for (auto& [fd, held] : held_connections_) {
        // One waiting for its replay claim stays: the answer comes within the store's timeout.
        if (held.connection.awaiting_store) continue;
        (held.awaiting >= 0 ? running : fds).push_back(fd);
      }
      for (int fd : fds) Drop(fd, false);
      for (int fd : running) HandOver(held_connections_.find(fd));
    }
    auto now = Clock::now();
    if (now >= next_tick) {
      next_tick = now + kTickInterval;
      if (!listener_closed_ && accept_paused_until_ != Clock::time_point{} &&
          now >= accept_paused_until_) {
        accept_paused_until_ = {};
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = listen_fd_;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
      }
      ExpireDeadlines();
      if (tick_) tick_();
      ServeReady();
    } else if (expiry_left_) {
      ExpireDeadlines();
    }
  }
  CloseListener();
  running_.store(false);
}

void FrontLoop::CloseListener() {
  if (listener_closed_) return;
  listener_closed_ = true;
  if (listen_fd_ < 0) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  ::close(listen_fd_);
}

void FrontLoop::AcceptAll() {
  std::vector<ClientConnection> accepted;
  auto place = [&] {
    if (accepted.empty()) return;
    if (place_) {
      place_(accepted);
    } else {
      for (auto& c : accepted) Adopt(std::move(c));
    }
    accepted.clear();
  };
  while (accepting_.load()) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop watching the listener for a moment (it would wake the
        // loop at once again); the connections wait in the backlog meanwhile.
        log::Warn(
            fmt::format("accept: {}; new connections wait in the backlog", std::strerror(errno)));
        epoll_event ev{};
        ev.events = 0;
        ev.data.fd = listen_fd_;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
        accept_paused_until_ = Clock::now() + kTickInterval;
      }
      break;  // EAGAIN: all taken
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ClientConnection& c = accepted.emplace_back();
    c.fd = fd;
    c.remote_addr = AddressText(peer);
    // A burst (a flood reconnecting at once) reaches the other loops batch by batch.
    if (accepted.size() == kAcceptBatch) place();
  }
  place();
}

void FrontLoop::Adopt(ClientConnection&& connection) {
  if (listener_closed_ || !accepting_.load()) {
    ::close(connection.fd);
    return;
  }
  int fd = connection.fd;
  Held held{std::move(connection), {}, false};
  const auto now = Clock::now();
  held.head_started = !held.connection.buffered.empty();
  if (held.head_started && held.connection.request_start == Clock::time_point{}) {
    held.connection.request_start = now;
  }
  held.deadline = held.connection.served_before && !held.head_started
                      ? now + options_.keepalive_timeout
                      : now + options_.read_timeout;
  if (HasHeadEnd(held.connection.buffered) ||
      held.connection.buffered.size() > options_.head_limit) {
    dispatch_(std::move(held.connection));
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    log::Warn(fmt::format("epoll_ctl: {}; connection closed", std::strerror(errno)));
    ::close(fd);
    return;
  }
  held_connections_.emplace(fd, std::move(held));
  held_.fetch_add(1);
}

void FrontLoop::OnReadable(int fd) {
  auto it = held_connections_.find(fd);
  if (it == held_connections_.end()) return;
  Held& held = it->second;
  auto& buffer = held.connection.buffered;
  if (held.awaiting >= 0 || held.connection.awaiting_store) {
    // Its request waits on the function (or its claim): what the client sends meanwhile (a
    // pipelined request) is kept for later, up to head_limit; at that limit, or at its end of file,
    // the client is not watched until the answer is out (then epoll reports it again).
    char chunk[kReadChunk];
    const bool full = buffer.size() > options_.head_limit;
    const ssize_t n = full ? 0 : ::recv(fd, chunk, kReadChunk, 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<std::size_t>(n));
    } else if (full || n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
      epoll_event ev{};
      ev.data.fd = fd;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
      held.client_paused = true;
    }
    return;
  }
  // An idle connection holds no buffer: it takes the loop's spare one for this read.
  if (buffer.empty() && spare_buffer_.capacity() > buffer.capacity()) buffer.swap(spare_buffer_);
  while (true) {
    // Into a stack buffer, then appended: growing the string first would zero-fill the whole
    // chunk before every recv.
    char chunk[kReadChunk];
    ssize_t n = ::recv(fd, chunk, kReadChunk, 0);
    if (n > 0) buffer.append(chunk, static_cast<std::size_t>(n));
    if (n == 0) {
      KeepSpare(buffer);
      Drop(fd, false);  // the client closed
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      KeepSpare(buffer);
      Drop(fd, false);
      return;
    }
    if (!held.head_started) {
      held.head_started = true;
      held.connection.request_start = Clock::now();
      held.deadline = held.connection.request_start + options_.read_timeout;
    }
    if (HasHeadEnd(buffer) || buffer.size() > options_.head_limit || held.connection.resume) {
      const bool keep = serve_here_ && serve_here_(held.connection) == Served::kKeep;
      Unwatch(held.connection);
      if (keep) {
        Rearm(it);
        // One read's worth per turn: a client that keeps sending must not keep the loop from
        // its other connections (epoll reports this one again while bytes wait).
        return;
      }
      HandOver(it);
      return;
    }
  }
  KeepSpare(buffer);
  buffer.shrink_to_fit();
}

void FrontLoop::KeepSpare(std::string& buffer) {
  if (buffer.empty() && buffer.capacity() > spare_buffer_.capacity() &&
      buffer.capacity() <= kSpareBufferBytes) {
    buffer.swap(spare_buffer_);
  }
}

void FrontLoop::Rearm(std::unordered_map<int, Held>::iterator it) {
  kept_ = true;
  const int fd = it->first;
  Held& held = it->second;
  auto& c = held.connection;
  if (c.upstream_fd >= 0) {
    // Waiting for the function's answer: the upstream connection is watched too (it may be
    // already: one the lane kept).
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = kUpstreamTag | static_cast<std::uint32_t>(c.upstream_fd);
    if (!c.upstream_watched && ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.upstream_fd, &ev) != 0) {
      log::Warn(
          fmt::format("epoll_ctl (upstream): {}; a worker waits instead", std::strerror(errno)));
      HandOver(it);
      return;
    }
    held.awaiting = c.upstream_fd;
    awaited_.Set(c.upstream_fd, fd);
    held.deadline = c.upstream_deadline;
    return;
  }
  if (c.awaiting_store) {
    held.deadline = Clock::time_point::max();  // the lane answers within the store's timeout
    return;
  }
  if (held.client_paused) {
    held.client_paused = false;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
  }
  // Answered here: wait for the next request, or the rest of one begun already, whose
  // read_timeout counts from its first byte. An emptied buffer goes back to the loop as its
  // spare (not freed and made again for the next request).
  KeepSpare(c.buffered);
  c.buffered.shrink_to_fit();
  held.head_started = !c.buffered.empty() || c.resume;
  if (held.head_started) {
    if (c.request_start == Clock::time_point{}) c.request_start = Clock::now();
    held.deadline = c.request_start + options_.read_timeout;
  } else {
    held.deadline = Clock::now() + options_.keepalive_timeout;
  }
}

void FrontLoop::StopAwaiting(Held& held, bool unwatch) {
  if (held.awaiting < 0) return;
  if (unwatch) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, held.awaiting, nullptr);
  awaited_.Erase(held.awaiting);
  held.awaiting = -1;
}

void FrontLoop::Unwatch(ClientConnection& c) {
  if (c.unwatch_fd < 0) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.unwatch_fd, nullptr);
  c.unwatch_fd = -1;
}

void FrontLoop::OnUpstream(int upstream_fd) {
  auto it = held_connections_.find(awaited_.Get(upstream_fd));
  if (it == held_connections_.end()) {
    awaited_.Erase(upstream_fd);
    return;
  }
  // Still watched while ServeHere runs: done here, the connection stays with this loop's
  // lane; given to a worker, ServeHere names it in unwatch_fd.
  StopAwaiting(it->second, false);
  const Served served = serve_here_ ? serve_here_(it->second.connection) : Served::kDispatch;
  Unwatch(it->second.connection);
  if (served == Served::kKeep) {
    Rearm(it);
    return;
  }
  HandOver(it);
}

void FrontLoop::ServeReady() {
  while (!ready_.empty()) {
    std::vector<int> ready;
    ready.swap(ready_);
    for (int fd : ready) {
      auto it = held_connections_.find(fd);
      if (it == held_connections_.end() || !it->second.connection.awaiting_store) continue;
      const Served served = serve_here_ ? serve_here_(it->second.connection) : Served::kDispatch;
      Unwatch(it->second.connection);
      if (served == Served::kKeep) {
        Rearm(it);
      } else {
        HandOver(it);
      }
    }
  }
}

bool FrontLoop::Watch(int fd, bool watch, bool writable) {
  if (!watch) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    return true;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (writable ? EPOLLOUT : 0u);
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0 &&
      (errno != EEXIST || ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0)) {
    log::Warn(fmt::format("epoll_ctl (replay store): {}", std::strerror(errno)));
    return false;
  }
  return true;
}

void FrontLoop::Drop(int fd, bool cut) {
  (void)cut;
  if (auto it = held_connections_.find(fd); it != held_connections_.end()) {
    StopAwaiting(it->second, true);
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  if (held_connections_.erase(fd) > 0) held_.fetch_sub(1);
}

void FrontLoop::HandOver(std::unordered_map<int, Held>::iterator it) {
  StopAwaiting(it->second, true);
  it->second.connection.upstream_fd = -1;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->first, nullptr);
  ClientConnection c = std::move(it->second.connection);
  held_connections_.erase(it);
  held_.fetch_sub(1);
  dispatch_(std::move(c));
}

void FrontLoop::ExpireDeadlines() {
  const auto now = Clock::now();
  std::vector<int> expired;
  std::vector<int> begun;
  std::size_t cut = 0;
  expiry_left_ = false;
  for (const auto& [fd, held] : held_connections_) {
    if (now <= held.deadline) continue;
    if (expired.size() + begun.size() == kExpiredPerPass) {
      // Thousands expiring together (a flood opened at once) are closed a batch at a time,
      // with the loop's events looked at between batches: a health probe is not kept
      // waiting behind them.
      expiry_left_ = true;
      break;
    }
    // A request begun here whose body did not arrive in time: a worker answers it (408). One
    // whose function did not answer within exec_timeout: a worker answers it (504).
    if (held.connection.resume) {
      begun.push_back(fd);
      continue;
    }
    expired.push_back(fd);
    // A head begun and not finished, or a new connection that never sent one: cut. An idle
    // keep-alive connection past keepalive_timeout: closed, as expected.
    if (held.head_started || !held.connection.served_before) ++cut;
  }
  for (int fd : expired) Drop(fd, true);
  for (int fd : begun) HandOver(held_connections_.find(fd));
  // One line for all the batches of a wave.
  cut_in_wave_ += cut;
  if (!expiry_left_ && cut_in_wave_ > 0) {
    log::Warn(fmt::format("{} connection(s) cut: no complete request head within read_timeout",
                          cut_in_wave_));
    cut_in_wave_ = 0;
  }
}

void FrontLoop::TakeReturned() {
  std::vector<ClientConnection> returned;
  {
    std::lock_guard lock(returned_mutex_);
    returned.swap(returned_);
  }
  for (auto& c : returned) Adopt(std::move(c));
}

void FrontLoop::Return(ClientConnection&& connection) {
  {
    std::lock_guard lock(returned_mutex_);
    returned_.push_back(std::move(connection));
  }
  Wake();
}

void FrontLoop::Wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
}

void FrontLoop::ReturnAll(std::vector<ClientConnection>& connections) {
  if (connections.empty()) return;
  {
    std::lock_guard lock(returned_mutex_);
    for (auto& c : connections) returned_.push_back(std::move(c));
  }
  connections.clear();
  Wake();
}

void FrontLoop::StopAccepting() {
  accepting_.store(false);
  Wake();
}

void FrontLoop::Stop() {
  accepting_.store(false);
  stop_.store(true);
  Wake();
}

}  // namespace hw::server
