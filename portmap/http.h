// A bounded HTTP/1.1 request parser and response builder for the UPnP
// control port: one request per connection (the server closes after its
// answer), Content-Length bodies only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace unat::portmap {

struct HttpLimits {
  size_t max_header = 8 * 1024;  // request line + headers; beyond: 431
  size_t max_body = 64 * 1024;   // beyond: 413
  size_t max_headers = 64;       // header lines; beyond: 431
};

struct HttpRequest {
  std::string method;
  std::string target;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowered
  std::string body;
  // The first header with that (lower-case) name, or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

struct HttpParseResult {
  enum State { kIncomplete, kComplete, kError } state = kIncomplete;
  int status = 0;  // on kError: the HTTP status to answer (400, 411, 413, ...)
  HttpRequest request;
};

// Parses one request from the start of `data`.
HttpParseResult ParseHttpRequest(std::string_view data,
                                 const HttpLimits& limits);

const char* HttpReason(int status);

// A complete response with Content-Length and "Connection: close".
// `extra_headers`: "Name: value\r\n" lines.
std::string HttpResponse(int status, std::string_view content_type,
                         std::string_view body,
                         std::string_view extra_headers = {});

}  // namespace unat::portmap
