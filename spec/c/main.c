/* The plain-C tests of core/, one file per concept; the last line is the
 * count spec/run.sh reads. */
#include "check.h"

int passed, failed, checks_failed;

int main(void)
{
    rbuf_tests();
    bytes_tests();
    printf("core C tests: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
