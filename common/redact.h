#pragma once

// Secrets never reach a log line, an error, status output or a metric. Anything that may
// carry a database URL, a connection string or a webhook URL passes through these first.

#include <string>
#include <string_view>

namespace lakesync {

// Replaces the password of a PostgreSQL connection string with "***": the URI form
// (postgres[ql]://user:secret@host/db, ?password=secret) and the keyword form
// (host=h password=secret, password='s e c'). Other text is returned unchanged.
std::string RedactConnectionString(std::string_view conninfo);

// Replaces `secret` (when non-empty) everywhere in `text` with "***". For messages produced by
// libraries (libpq, Poco) that may echo a secret back.
std::string RedactSecret(std::string_view text, std::string_view secret);

// A webhook URL shown as scheme://host/*** (the path of Slack-style webhooks is the secret).
std::string RedactUrl(std::string_view url);

}  // namespace lakesync
