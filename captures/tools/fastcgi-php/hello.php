<?php
// healthy: a short text answer.
header("Content-Type: text/plain");
echo "hello from php-fpm\n";
