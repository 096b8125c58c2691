#include "portmap/http.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace unat::portmap {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 32 || c >= 127 ||
        std::string_view("()<>@,;:\\\"/[]?={}").find(ch) !=
            std::string_view::npos) {
      return false;
    }
  }
  return true;
}

HttpParseResult Error(int status) {
  HttpParseResult r;
  r.state = HttpParseResult::kError;
  r.status = status;
  return r;
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return &v;
  }
  return nullptr;
}

HttpParseResult ParseHttpRequest(std::string_view data,
                                 const HttpLimits& limits) {
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > limits.max_header) return Error(431);
    return {};
  }
  if (end + 4 > limits.max_header) return Error(431);
  HttpParseResult r;
  HttpRequest& q = r.request;
  std::string_view head = data.substr(0, end);
  size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  head = line_end == std::string_view::npos ? std::string_view()
                                            : head.substr(line_end + 2);
  // Request line: METHOD SP target SP HTTP/1.x
  const size_t sp1 = line.find(' ');
  const size_t sp2 =
      sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != line.npos) {
    return Error(400);
  }
  q.method = std::string(line.substr(0, sp1));
  q.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  q.version = std::string(line.substr(sp2 + 1));
  if (!IsToken(q.method) || q.target.empty()) return Error(400);
  if (q.version != "HTTP/1.1" && q.version != "HTTP/1.0") {
    return Error(q.version.rfind("HTTP/", 0) == 0 ? 505 : 400);
  }
  for (char ch : q.target) {
    if (static_cast<unsigned char>(ch) <= 32 ||
        static_cast<unsigned char>(ch) >= 127) {
      return Error(400);
    }
  }
  while (!head.empty()) {
    line_end = head.find("\r\n");
    line = head.substr(0, line_end);
    head = line_end == std::string_view::npos ? std::string_view()
                                              : head.substr(line_end + 2);
    if (line.empty()) return Error(400);
    if (line.front() == ' ' || line.front() == '\t')
      return Error(400);  // obs-fold
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Error(400);
    std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return Error(400);
    for (char ch : line) {
      if (ch == '\0' || ch == '\r' || ch == '\n') return Error(400);
    }
    if (q.headers.size() >= limits.max_headers) return Error(431);
    q.headers.emplace_back(absl::AsciiStrToLower(std::string(name)),
                           std::string(Trim(line.substr(colon + 1))));
  }
  if (q.Header("transfer-encoding") != nullptr) return Error(501);
  size_t body_len = 0;
  int content_lengths = 0;
  for (const auto& [k, v] : q.headers) {
    if (k != "content-length") continue;
    uint64_t n = 0;
    if (++content_lengths > 1 || v.empty() ||
        !std::all_of(v.begin(), v.end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        v.size() > 12 || !absl::SimpleAtoi(v, &n)) {
      return Error(400);
    }
    if (n > limits.max_body) return Error(413);
    body_len = static_cast<size_t>(n);
  }
  if (content_lengths == 0 && q.method == "POST") return Error(411);
  const size_t body_start = end + 4;
  if (data.size() < body_start + body_len) return {};
  q.body = std::string(data.substr(body_start, body_len));
  r.state = HttpParseResult::kComplete;
  return r;
}

const char* HttpReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
  }
  return "Error";
}

std::string HttpResponse(int status, std::string_view content_type,
                         std::string_view body,
                         std::string_view extra_headers) {
  std::string out =
      absl::StrCat("HTTP/1.1 ", status, " ", HttpReason(status), "\r\n");
  if (!content_type.empty()) {
    absl::StrAppend(&out, "Content-Type: ", std::string(content_type), "\r\n");
  }
  absl::StrAppend(&out, "Content-Length: ", body.size(), "\r\n",
                  "Connection: close\r\n",
                  "Server: Linux UPnP/1.1 unat/1.0\r\n",
                  std::string(extra_headers), "\r\n", std::string(body));
  return out;
}

}  // namespace unat::portmap
