/* A shared object without the effbench entry point: loading it must fail cleanly. */
int effbench_not_the_entry_point(void);
int effbench_not_the_entry_point(void) { return 0; }
