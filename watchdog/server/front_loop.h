// The connection front: one epoll loop that accepts connections and holds every one that has
// no complete request head yet (new, half-open, idle between keep-alive requests). Only a
// connection whose head has fully arrived is handed to a worker, so thousands of idle or
// slow clients cost a few hundred bytes each and never a worker thread: health checks and
// signed requests keep being served while they wait. Heads that do not arrive within
// read_timeout, and idle keep-alive connections past keepalive_timeout, are closed here.
// Independent of the HTTP library: it only finds where a head ends.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/expected.h"

namespace hw::server {

struct BegunRequest;  // connection.cc: a request the loop began and a worker goes on with

// A client connection between requests, with what has been read of its next request.
struct ClientConnection {
  int fd = -1;
  std::string buffered;        // bytes read, not yet parsed (a head, maybe body bytes after it)
  std::string remote_addr;     // the peer's IP address, as text
  bool served_before = false;  // at least one request was answered on it
  // When the first byte of the buffered request arrived (read_timeout counts from it).
  std::chrono::steady_clock::time_point request_start{};
  // Left by the loop's ServeHere for the worker that takes the connection over:
  std::string unsent;                    // response bytes the socket did not take at once
  bool close_after = false;              // close once `unsent` is written
  std::shared_ptr<BegunRequest> resume;  // a request begun on the loop
  // With `resume`: the loop waits for this descriptor (the function's answer on an upstream
  // connection) instead of the client, until `upstream_deadline`, then gives the connection
  // to Dispatch. -1: it waits for the client.
  int upstream_fd = -1;
  bool upstream_watched = false;  // upstream_fd is in the loop's epoll already
  std::chrono::steady_clock::time_point upstream_deadline{};
  // With `resume`: its request waits for a replay claim on the loop's store lane, which
  // answers within the store's timeout (then LoopLanes::ready names it: FrontLoop::Ready).
  // Meanwhile the connection is neither timed out nor handed over.
  bool awaiting_store = false;
  // A descriptor the loop watched for this connection and must stop watching (a worker
  // takes over the exchange on it); -1: none.
  int unwatch_fd = -1;
};

// Descriptor -> descriptor, indexed by number: descriptors are small and dense, so a lookup
// is an index and a request's entry costs no allocation (a hash map's node would).
class FdTable {
 public:
  bool Has(int fd) const { return Get(fd) >= 0; }
  int Get(int fd) const {  // -1: none
    return fd >= 0 && static_cast<std::size_t>(fd) < to_.size() ? to_[static_cast<std::size_t>(fd)]
                                                                : -1;
  }
  void Set(int fd, int to) {
    const auto i = static_cast<std::size_t>(fd);
    if (i >= to_.size()) to_.resize(std::max<std::size_t>(i + 1, to_.size() * 2), -1);
    to_[i] = to;
  }
  void Erase(int fd) {
    if (Has(fd)) to_[static_cast<std::size_t>(fd)] = -1;
  }

 private:
  std::vector<int> to_;
};

class FrontLoop {
 public:
  struct Options {
    std::chrono::milliseconds read_timeout;       // a head must be complete within this
    std::chrono::milliseconds keepalive_timeout;  // idle time allowed between requests
    std::size_t head_limit;  // bytes after which a head is handed over anyway (to be refused)
    // With at most one client connection, how long to poll for its next event before
    // sleeping (0: never).
    std::chrono::microseconds spin{0};
  };
  // Called on the loop thread with a connection whose head is complete (or over head_limit).
  // Must not block. Takes ownership of the descriptor.
  using Dispatch = std::function<void(ClientConnection&&)>;
  // Called on the loop thread every ~100 ms (deadlines of connections held by workers).
  using Tick = std::function<void()>;
  // Called on the loop thread with a readable descriptor that is neither the listener, a
  // held connection nor an awaited upstream: true when the caller knew it (an idle upstream
  // connection its lane keeps, now closed); otherwise the loop stops watching it.
  using Stray = std::function<bool(int fd)>;
  // Called on the loop thread, before Dispatch, with a connection whose head is complete (or
  // over head_limit), or whose upstream_fd became readable: answers what it can without
  // waiting. kKeep: answered, or waiting for its upstream_fd; the loop goes on holding the
  // connection (`buffered` keeps what is left). kDispatch: give it to Dispatch.
  enum class Served { kKeep, kDispatch };
  using ServeHere = std::function<Served(ClientConnection&)>;
  // Called on the loop thread with the connections it accepted (at most kAcceptBatch at a
  // time), to give each to the loop that is to hold it (with ReturnAll: one wake-up per loop
  // and batch, not one per connection); leaves `accepted` empty. Null: this loop holds them.
  using Place = std::function<void(std::vector<ClientConnection>& accepted)>;
  static constexpr std::size_t kAcceptBatch = 64;

  // `listen_fd` listens already (or is -1: a loop that only serves what Return gives it); the
  // loop makes it non-blocking and owns it from Run() on. Fails with a message when epoll or
  // eventfd cannot be created. `serve_here` and `place` may be null.
  static Expected<std::unique_ptr<FrontLoop>> Create(int listen_fd, Options options,
                                                     Dispatch dispatch, Tick tick,
                                                     ServeHere serve_here = nullptr,
                                                     Place place = nullptr, Stray stray = nullptr);
  ~FrontLoop();
  FrontLoop(const FrontLoop&) = delete;
  FrontLoop& operator=(const FrontLoop&) = delete;

  // Serves until Stop(). Call once, on its own thread.
  void Run();
  // Thread-safe. Stops accepting (the listening socket is closed) and closes every
  // connection the loop holds; connections handed back later are closed at once.
  void StopAccepting();
  // Thread-safe. Ends Run() (after StopAccepting).
  void Stop();
  // Thread-safe: a worker gives back a keep-alive connection to wait for its next request
  // (closed at once after StopAccepting).
  void Return(ClientConnection&& connection);
  // Thread-safe: Return for each of `connections` (left empty), with one wake-up.
  void ReturnAll(std::vector<ClientConnection>& connections);
  bool running() const { return running_.load(); }
  // Loop thread only. Serves a held connection again (ServeHere) once this turn's events are
  // handled: the claim its request waited on was answered.
  void Ready(int fd) { ready_.push_back(fd); }
  // Loop thread only. Watches a descriptor of the loop's own (a replay store lane's
  // connection) for reading, or reading and writing, or (watch false) stops; its events go to
  // the Stray callback.
  bool Watch(int fd, bool watch, bool writable = false);
  // Called on the loop thread before each wait (a store lane's writes). Set before Run().
  void SetBeforeWait(std::function<void()> before_wait) { before_wait_ = std::move(before_wait); }
  // Called on the loop thread after each wait, once the idle upstream connections' events are
  // handled and before any request is served; `complete`: the wait returned every ready
  // descriptor (false when the batch was full). Set before Run().
  void SetAfterWait(std::function<void(bool complete)> after_wait) {
    after_wait_ = std::move(after_wait);
  }
  std::size_t held() const { return held_.load(); }  // connections the loop holds now

 private:
  struct Held {
    ClientConnection connection;
    std::chrono::steady_clock::time_point deadline;
    bool head_started = false;   // a byte of the next request has arrived
    int awaiting = -1;           // the upstream descriptor its request waits on
    bool client_paused = false;  // the client is not watched (events 0) while it waits
  };

  FrontLoop(int listen_fd, int epoll_fd, int wake_fd, Options options, Dispatch dispatch, Tick tick,
            ServeHere serve_here, Place place, Stray stray);
  void AcceptAll();
  void Adopt(ClientConnection&& connection);
  void OnReadable(int fd);
  // The upstream a held connection waits on is readable.
  void OnUpstream(int upstream_fd);
  // After ServeHere kept a connection: watch its upstream too, or the client alone again for
  // its next request, with the deadline that applies.
  void Rearm(std::unordered_map<int, Held>::iterator it);
  // Forgets the upstream descriptor `held` awaits; `unwatch`: also removes it from epoll.
  void StopAwaiting(Held& held, bool unwatch);
  // Removes what the connection asked to stop watching (ClientConnection::unwatch_fd).
  void Unwatch(ClientConnection& c);
  void Drop(int fd, bool cut);
  // Stops watching a held connection and gives it to Dispatch.
  void HandOver(std::unordered_map<int, Held>::iterator it);
  // Ends connections past their deadline, up to a batch; sets expiry_left_ when more are.
  void ExpireDeadlines();
  void TakeReturned();
  // Any thread: makes the loop's epoll_wait return (its eventfd).
  void Wake();
  void CloseListener();
  // Serves the connections Ready named.
  void ServeReady();

  int listen_fd_;
  int epoll_fd_;
  int wake_fd_;
  Options options_;
  Dispatch dispatch_;
  Tick tick_;
  ServeHere serve_here_;
  Place place_;
  Stray stray_;
  std::unordered_map<int, Held> held_connections_;  // loop thread only
  bool kept_ = false;  // this turn served a connection here and kept it (Rearm); loop only
  bool expiry_left_ = false;
  std::size_t cut_in_wave_ = 0;  // connections cut by the passes of one wave, logged at its end  //
                                 // a pass of ExpireDeadlines left expired connections; loop only
  FdTable awaited_;              // upstream fd -> client fd; loop thread only
  std::vector<int> ready_;       // loop thread only
  // An empty read buffer kept for the next connection that reads (loop thread only): an
  // idle connection holds none, and takes this one when it reads.
  static constexpr std::size_t kSpareBufferBytes = 64 * 1024;
  std::string spare_buffer_;
  // Keeps `buffer`'s room as the spare when it is empty and larger (up to kSpareBufferBytes).
  void KeepSpare(std::string& buffer);
  std::function<void()> before_wait_;
  std::function<void(bool)> after_wait_;
  std::mutex returned_mutex_;
  std::vector<ClientConnection> returned_;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<std::size_t> held_{0};
  bool listener_closed_ = false;  // loop thread only
  std::chrono::steady_clock::time_point accept_paused_until_{};
};

}  // namespace hw::server
