/* The version and git commit of this build (scripts/version.cmake writes
 * their definitions at every build, so a rebuild after a commit records the
 * new commit). */
#ifndef EFFBENCH_VERSION_H
#define EFFBENCH_VERSION_H

/* project(VERSION) of CMakeLists.txt, e.g. "0.1.0" */
const char *eb_version(void);
/* `git rev-parse --short HEAD` of the source tree, "-dirty" appended when
 * tracked files differ from it; "unknown" without git or a checkout */
const char *eb_git_commit(void);

#define EFFBENCH_VERSION eb_version()
#define EFFBENCH_GIT_COMMIT eb_git_commit()

#endif
