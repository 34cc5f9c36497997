#include "metrics/metrics.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "exposition_parser.h"

namespace hw::metrics {
namespace {

using testing::CheckHistograms;
using testing::LabelMap;
using testing::ParsedExposition;
using testing::ParseExposition;

// Parses a render and fails the test on any format error.
ParsedExposition RenderAndParse(const Metrics& metrics) {
  const std::string text = metrics.Render();
  ParsedExposition parsed = ParseExposition(text);
  std::string errors;
  for (const std::string& error : parsed.errors) errors += error + "\n";
  for (const std::string& error : CheckHistograms(parsed)) errors += error + "\n";
  INFO(text << "\nerrors:\n" << errors);
  REQUIRE(errors.empty());
  return parsed;
}

TEST_CASE("metrics renders of-watchdog's request metrics with lower-case methods and codes") {
  Metrics metrics;
  for (int i = 0; i < 3; ++i) metrics.RequestStarted();
  metrics.RequestFinished("POST", 200, 0.003);
  metrics.RequestFinished("post", 200, 0.2);
  metrics.RequestFinished("GET", 404, 7);

  const auto parsed = RenderAndParse(metrics);
  REQUIRE(parsed.Find("http_requests_total") != nullptr);
  CHECK(parsed.Find("http_requests_total")->type == "counter");
  CHECK(parsed.Find("http_request_duration_seconds")->type == "histogram");
  CHECK(parsed.Find("http_requests_in_flight")->type == "gauge");

  const LabelMap post_200 = {{"code", "200"}, {"method", "post"}};
  const LabelMap get_404 = {{"code", "404"}, {"method", "get"}};
  CHECK(parsed.Value("http_requests_total", post_200) == 2.0);
  CHECK(parsed.Value("http_requests_total", get_404) == 1.0);
  CHECK(parsed.Find("http_requests_total")->samples.size() == 2);
  CHECK(parsed.Value("http_requests_in_flight") == 0.0);

  const auto bucket = [&](const LabelMap& labels, const char* le) {
    LabelMap with_le = labels;
    with_le["le"] = le;
    return parsed.Value("http_request_duration_seconds_bucket", with_le);
  };
  CHECK(bucket(post_200, "0.005") == 1.0);
  CHECK(bucket(post_200, "0.1") == 1.0);
  CHECK(bucket(post_200, "0.25") == 2.0);
  CHECK(bucket(post_200, "+Inf") == 2.0);
  CHECK(bucket(get_404, "5") == 0.0);
  CHECK(bucket(get_404, "10") == 1.0);
  CHECK(parsed.Value("http_request_duration_seconds_sum", post_200).value() == Approx(0.203));
  CHECK(parsed.Value("http_request_duration_seconds_count", get_404) == 1.0);
}

TEST_CASE("the duration histogram has of-watchdog's eleven buckets") {
  Metrics metrics;
  metrics.RequestStarted();
  metrics.RequestFinished("GET", 200, 0.01);
  const auto parsed = RenderAndParse(metrics);
  std::vector<std::string> les;
  for (const auto& sample : parsed.Find("http_request_duration_seconds")->samples) {
    if (sample.labels.count("le") != 0) les.push_back(sample.labels.at("le"));
  }
  CHECK(les == std::vector<std::string>{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                                        "2.5", "5", "10", "+Inf"});
}

TEST_CASE("the in-flight gauge counts requests started and not yet finished") {
  Metrics metrics;
  CHECK(RenderAndParse(metrics).Value("http_requests_in_flight") == 0.0);
  metrics.RequestStarted();
  metrics.RequestStarted();
  CHECK(RenderAndParse(metrics).Value("http_requests_in_flight") == 2.0);
  metrics.RequestFinished("GET", 200, 0.001);
  CHECK(RenderAndParse(metrics).Value("http_requests_in_flight") == 1.0);
}

TEST_CASE("unknown methods and out-of-range status codes are recorded as other") {
  Metrics metrics;
  for (int i = 0; i < 5; ++i) metrics.RequestStarted();
  metrics.RequestFinished("BREW", 418, 0.01);
  metrics.RequestFinished("PROPFIND", 207, 0.01);
  metrics.RequestFinished("OpTiOnS", 204, 0.01);
  metrics.RequestFinished("GET", 0, 0.01);
  metrics.RequestFinished("GET", 1000, 0.01);
  const auto parsed = RenderAndParse(metrics);
  CHECK(parsed.Value("http_requests_total", {{"code", "418"}, {"method", "other"}}) == 1.0);
  CHECK(parsed.Value("http_requests_total", {{"code", "207"}, {"method", "other"}}) == 1.0);
  CHECK(parsed.Value("http_requests_total", {{"code", "204"}, {"method", "options"}}) == 1.0);
  CHECK(parsed.Value("http_requests_total", {{"code", "other"}, {"method", "get"}}) == 2.0);
  CHECK(parsed.Find("http_requests_total")->samples.size() == 4);
}

TEST_CASE("every family of the full exposition has one HELP and one TYPE line") {
  Metrics metrics;
  metrics.RequestStarted();
  metrics.RequestFinished("PUT", 500, 0.5);
  metrics.Verification("github", "valid");
  metrics.SetSecretReloadSource([] { return std::pair<std::uint64_t, std::uint64_t>{1, 0}; });
  // RenderAndParse checks the HELP/TYPE counts, contiguity and histogram consistency.
  const auto parsed = RenderAndParse(metrics);
  std::vector<std::string> names;
  for (const auto& family : parsed.families) names.push_back(family.name);
  CHECK(names == std::vector<std::string>{
                     "http_requests_total", "http_request_duration_seconds",
                     "http_requests_in_flight", "hmac_verifications_total",
                     "hmac_function_spawns_total", "hmac_function_spawn_failures_total",
                     "hmac_upstream_requests_total", "hmac_unverified_body_bytes",
                     "hmac_unverified_budget_rejections_total", "hmac_dropped_headers_total",
                     "hmac_secret_reloads_total", "process_cpu_seconds_total", "process_open_fds",
                     "process_max_fds", "process_resident_memory_bytes",
                     "process_virtual_memory_bytes", "process_start_time_seconds"});
}

TEST_CASE("request families stay out of the exposition until the first request") {
  Metrics metrics;
  const auto parsed = RenderAndParse(metrics);
  CHECK(parsed.Find("http_requests_total") == nullptr);
  CHECK(parsed.Find("http_request_duration_seconds") == nullptr);
  CHECK(parsed.Find("hmac_verifications_total") == nullptr);
  CHECK(parsed.Value("http_requests_in_flight") == 0.0);
  CHECK(parsed.Value("hmac_function_spawns_total") == 0.0);
}

TEST_CASE("verification outcomes are counted per scheme and outcome, label values escaped") {
  Metrics metrics;
  metrics.Verification("stripe", "valid");
  metrics.Verification("stripe", "valid");
  metrics.Verification("stripe", "expired");
  metrics.Verification("we\"ird\\sch\neme", "mismatch");
  const std::string text = metrics.Render();
  CHECK(text.find(R"(hmac_verifications_total{scheme="we\"ird\\sch\neme",outcome="mismatch"} 1)") !=
        std::string::npos);
  const auto parsed = RenderAndParse(metrics);
  CHECK(parsed.Find("hmac_verifications_total")->type == "counter");
  CHECK(parsed.Value("hmac_verifications_total", {{"scheme", "stripe"}, {"outcome", "valid"}}) ==
        2.0);
  CHECK(parsed.Value("hmac_verifications_total", {{"scheme", "stripe"}, {"outcome", "expired"}}) ==
        1.0);
  CHECK(parsed.Value("hmac_verifications_total",
                     {{"scheme", "we\"ird\\sch\neme"}, {"outcome", "mismatch"}}) == 1.0);
}

TEST_CASE("spawn, spawn failure and upstream counters count their calls") {
  Metrics metrics;
  metrics.Spawned();
  metrics.Spawned();
  metrics.SpawnFailed();
  for (int i = 0; i < 5; ++i) metrics.UpstreamRequest();
  const auto parsed = RenderAndParse(metrics);
  CHECK(parsed.Value("hmac_function_spawns_total") == 2.0);
  CHECK(parsed.Value("hmac_function_spawn_failures_total") == 1.0);
  CHECK(parsed.Value("hmac_upstream_requests_total") == 5.0);
  CHECK(parsed.Find("hmac_upstream_requests_total")->type == "counter");
}

TEST_CASE("secret reloads are read from the source at scrape time and absent without one") {
  Metrics metrics;
  CHECK(RenderAndParse(metrics).Find("hmac_secret_reloads_total") == nullptr);

  std::atomic<std::uint64_t> ok{3};
  metrics.SetSecretReloadSource([&ok] {
    return std::pair<std::uint64_t, std::uint64_t>{ok.load(), 1};
  });
  auto parsed = RenderAndParse(metrics);
  CHECK(parsed.Find("hmac_secret_reloads_total")->type == "counter");
  CHECK(parsed.Value("hmac_secret_reloads_total", {{"result", "ok"}}) == 3.0);
  CHECK(parsed.Value("hmac_secret_reloads_total", {{"result", "failed"}}) == 1.0);

  ok = 4;
  parsed = RenderAndParse(metrics);
  CHECK(parsed.Value("hmac_secret_reloads_total", {{"result", "ok"}}) == 4.0);
}

TEST_CASE("the full exposition carries plausible process metrics") {
  Metrics metrics;
  const auto parsed = RenderAndParse(metrics);
  CHECK(parsed.Find("process_cpu_seconds_total")->type == "counter");
  CHECK(parsed.Find("process_open_fds")->type == "gauge");
  CHECK(parsed.Value("process_resident_memory_bytes").value() > 0);
  CHECK(parsed.Value("process_open_fds").value() >= 3);  // stdin, stdout, stderr
  CHECK(parsed.Value("process_max_fds").value() >= parsed.Value("process_open_fds").value());
}

TEST_CASE("requests recorded from eight threads sum exactly while scrapes run") {
  Metrics metrics;
  std::atomic<std::uint64_t> reloads{0};
  metrics.SetSecretReloadSource([&reloads] {
    return std::pair<std::uint64_t, std::uint64_t>{reloads.load(), 0};
  });
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  const char* const kMethods[] = {"GET", "POST"};
  const int kCodes[] = {200, 401};

  std::atomic<bool> done{false};
  std::atomic<int> bad_scrapes{0};
  std::jthread scraper([&] {
    do {
      const auto parsed = ParseExposition(metrics.Render());
      if (!parsed.errors.empty() || !CheckHistograms(parsed).empty()) ++bad_scrapes;
    } while (!done);
  });
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          metrics.RequestStarted();
          metrics.Verification("github", i % 2 == 0 ? "valid" : "mismatch");
          metrics.Spawned();
          metrics.RequestFinished(kMethods[t % 2], kCodes[i % 2], 0.25);
          ++reloads;
        }
      });
    }
  }
  done = true;
  scraper.join();
  CHECK(bad_scrapes == 0);

  const auto parsed = RenderAndParse(metrics);
  const double per_cell = double{kThreads} / 2 * kPerThread / 2;
  for (const char* method : {"get", "post"}) {
    for (const char* code : {"200", "401"}) {
      const LabelMap labels = {{"code", code}, {"method", method}};
      CHECK(parsed.Value("http_requests_total", labels) == per_cell);
      CHECK(parsed.Value("http_request_duration_seconds_count", labels) == per_cell);
      CHECK(parsed.Value("http_request_duration_seconds_sum", labels) == per_cell * 0.25);
    }
  }
  const double total = double{kThreads} * kPerThread;
  CHECK(parsed.Value("http_requests_in_flight") == 0.0);
  CHECK(parsed.Value("hmac_function_spawns_total") == total);
  CHECK(parsed.Value("hmac_verifications_total", {{"scheme", "github"}, {"outcome", "valid"}}) ==
        total / 2);
  CHECK(parsed.Value("hmac_secret_reloads_total", {{"result", "ok"}}) == total);
}

}  // namespace
}  // namespace hw::metrics
