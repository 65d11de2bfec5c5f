#pragma once

// The `lakesync` command line: parses arguments, sets up logging, dispatches to a command and
// maps its outcome to an exit code (see exit_codes.h). Output for people and --json goes to
// stdout; logs and errors go to stderr.

namespace lakesync::runner {

int Main(int argc, char** argv);

}  // namespace lakesync::runner
