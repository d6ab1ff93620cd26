/* effbench command-line entry point (work in progress: sub-commands land here). */
#include <stdio.h>

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "usage: effbench COMMAND ...\n");
  return 2;
}
