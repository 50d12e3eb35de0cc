<?php
// Headers and 2000 body bytes go out (flush: output_buffering is off), then the worker kills itself.
header("Content-Type: text/plain");
echo str_repeat("x", 1999), "\n";
flush();
usleep(200000);
posix_kill(getmypid(), 9);
