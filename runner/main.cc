#include "runner/cli.h"

int main(int argc, char** argv) { return lakesync::runner::Main(argc, argv); }
