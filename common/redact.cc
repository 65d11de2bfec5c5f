#include "common/redact.h"

#include <cctype>

namespace lakesync {
namespace {

constexpr std::string_view kMask = "***";

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// Masks the values of password= parameters in a query string or keyword list. `sep` ends a
// value ('&' for URI query strings, whitespace for keyword form).
std::string MaskPasswordParams(std::string_view s, bool uri_query) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    bool at_key_start = i == 0 || (uri_query ? (s[i - 1] == '&' || s[i - 1] == '?')
                                             : std::isspace(static_cast<unsigned char>(s[i - 1])));
    if (at_key_start && StartsWithNoCase(s.substr(i), "password")) {
      size_t j = i + 8;
      while (!uri_query && j < s.size() && s[j] == ' ') ++j;
      if (j < s.size() && s[j] == '=') {
        ++j;
        while (!uri_query && j < s.size() && s[j] == ' ') ++j;
        out.append(s.substr(i, j - i));
        out.append(kMask);
        if (!uri_query && j < s.size() && s[j] == '\'') {
          // Quoted value: skip to the closing quote, honouring backslash escapes.
          ++j;
          while (j < s.size() && s[j] != '\'') j += (s[j] == '\\' && j + 1 < s.size()) ? 2 : 1;
          if (j < s.size()) ++j;
        } else {
          while (j < s.size() &&
                 (uri_query ? s[j] != '&' : !std::isspace(static_cast<unsigned char>(s[j])))) {
            ++j;
          }
        }
        i = j;
        continue;
      }
    }
    out.push_back(s[i]);
    ++i;
  }
  return out;
}

}  // namespace

std::string RedactConnectionString(std::string_view conninfo) {
  std::string out;
  size_t scheme_end = conninfo.find("://");
  bool is_uri =
      scheme_end != std::string_view::npos &&
      (StartsWithNoCase(conninfo, "postgresql://") || StartsWithNoCase(conninfo, "postgres://"));
  if (!is_uri) return MaskPasswordParams(conninfo, /*uri_query=*/false);

  size_t auth_start = scheme_end + 3;
  size_t path_start = conninfo.find_first_of("/?", auth_start);
  std::string_view authority =
      conninfo.substr(auth_start, path_start == std::string_view::npos ? std::string_view::npos
                                                                       : path_start - auth_start);
  out.append(conninfo.substr(0, auth_start));
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      out.append(userinfo.substr(0, colon + 1));
      out.append(kMask);
    } else {
      out.append(userinfo);
    }
    out.append(authority.substr(at));
  } else {
    out.append(authority);
  }
  if (path_start != std::string_view::npos) {
    std::string_view rest = conninfo.substr(path_start);
    size_t q = rest.find('?');
    if (q == std::string_view::npos) {
      out.append(rest);
    } else {
      out.append(rest.substr(0, q + 1));
      out.append(MaskPasswordParams(rest.substr(q + 1), /*uri_query=*/true));
    }
  }
  return out;
}

std::string RedactSecret(std::string_view text, std::string_view secret) {
  if (secret.empty()) return std::string(text);
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t hit = text.find(secret, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(kMask);
    pos = hit + secret.size();
  }
  out.append(text.substr(pos));
  return out;
}

std::string RedactUrl(std::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(kMask);
  size_t host_start = scheme_end + 3;
  size_t path_start = url.find_first_of("/?#", host_start);
  std::string_view host =
      url.substr(host_start, path_start == std::string_view::npos ? std::string_view::npos
                                                                  : path_start - host_start);
  size_t at = host.rfind('@');
  if (at != std::string_view::npos) host = host.substr(at + 1);
  std::string out(url.substr(0, host_start));
  out.append(host);
  if (path_start != std::string_view::npos) {
    out.append("/");
    out.append(kMask);
  }
  return out;
}

}  // namespace lakesync
