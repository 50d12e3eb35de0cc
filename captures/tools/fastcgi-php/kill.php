<?php
// The worker kills itself (SIGKILL) before writing any output: php-fpm's "child exited on signal 9".
posix_kill(getmypid(), 9);
