// The command line's handlers of SIGINT, SIGTERM and SIGHUP: an interrupted
// run removes its unpublished output (krrdistill::clean_up_for_signal) and
// then dies by the same signal, so that its parent sees how it ended.
#pragma once

namespace krrdistill::cli {

// Installs the handlers once; a signal ignored by whoever started the program
// (nohup, a background job) stays ignored, as shells do it.
void install_termination_handlers();

}  // namespace krrdistill::cli
