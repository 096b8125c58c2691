#include "tun/log.h"

#include <sys/time.h>

#include <cstdio>
#include <ctime>

namespace unat::tun {

void LogLine(const std::string& line) {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(stderr, "%s.%03d unatd: %s\n", stamp,
          static_cast<int>(tv.tv_usec / 1000), line.c_str());
  fflush(stderr);
}

}  // namespace unat::tun
