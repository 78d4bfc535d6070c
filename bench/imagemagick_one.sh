#!/bin/sh
# One input through ImageMagick 6, called by `xargs -P2`: usage imagemagick_one.sh OUT_DIR WxH INPUT
# Two convert calls, as a shell user writes it: the image, then its mirror (-flop).
# -define jpeg:size asks libjpeg for the smallest DCT scale that still covers WxH (shrink-on-load);
# -resize WxH^ + -extent is cover; -contrast-stretch 3%x3% is autocontrast with cutoff 3.
# /usr/bin/convert by full path: a stand-in `convert` sits earlier on PATH on this machine.
set -eu
out=$1
size=$2
input=$3
stem=$(basename "$input" .jpg)
for flip in "" "-flop"; do
    name=$stem${flip:+_mirror}
    # shellcheck disable=SC2086  # $flip is empty or one word on purpose
    /usr/bin/convert -define jpeg:size="$size" "$input" -resize "$size^" -gravity center \
        -extent "$size" -colorspace Gray -contrast-stretch 3%x3% $flip -strip "$out/$name.png"
done
