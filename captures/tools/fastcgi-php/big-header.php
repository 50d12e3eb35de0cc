<?php
// 80 header fields of 100 value bytes each (about 9 KB of head): past nginx's fastcgi_buffer_size (4k).
for ($i = 10; $i < 90; $i++) {
    header("X-Big-$i: " . str_repeat("b", 100));
}
header("Content-Type: text/plain");
echo "big head\n";
