/* The plain-C tests of core/, one file per concept; the last line is the
 * count spec/run.sh reads. */
#include "check.h"
#include "../../core/wait.h"

int passed, failed, checks_failed;

int main(void)
{
    if (!ev_default_loop(0))
        return 2;
    rbuf_tests();
    bytes_tests();
    addr_tests();
    wait_tests();
    socket_tests();
    stream_tests();
    dgram_tests();
    histogram_tests();
    resolve_tests();
    prng_tests();
    toxic_tests();
    decode_tests();
    proc_tests();
    printf("core C tests: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
