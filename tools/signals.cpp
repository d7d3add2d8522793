#include "signals.hpp"

#include <signal.h>

#include <cerrno>
#include <cstring>

#include "krrdistill/output_dir.hpp"

namespace krrdistill::cli {

namespace {

const int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

// Back to the default action, unblocked, and raised again: the process ends
// as if there had been no handler.
void die_by(int signal_number) {
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(signal_number, &dfl, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, signal_number);
  ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
  ::raise(signal_number);
}

extern "C" void on_termination(int signal_number) {
  const int saved_errno = errno;
  if (clean_up_for_signal(signal_number)) die_by(signal_number);
  errno = saved_errno;
}

}  // namespace

void install_termination_handlers() {
  static bool installed = false;
  if (installed) return;
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_termination;
  sigemptyset(&action.sa_mask);
  // Block the other termination signals while one is handled.
  for (int s : kSignals) sigaddset(&action.sa_mask, s);
  action.sa_flags = SA_RESTART;
  for (int s : kSignals) {
    struct sigaction previous;
    ::sigaction(s, nullptr, &previous);
    if (previous.sa_handler != SIG_IGN) ::sigaction(s, &action, nullptr);
  }
  installed = true;
}

}  // namespace krrdistill::cli
