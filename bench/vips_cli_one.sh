#!/bin/sh
# One input through the libvips command-line tools, called by `xargs -P2`:
# usage vips_cli_one.sh OUT_DIR WxH INPUT. As close to the workload as the vips CLI allows:
#   vipsthumbnail --smartcrop centre  shrink-on-load + cover crop/resize to WxH
#   vips colourspace ... b-w           grayscale
#   vips percent 3 / 97 + vips linear  autocontrast: stretch 3rd..97th percentile to 0..255 (uchar,
#                                      clipped); the scale and offset are computed with awk
#   vips copy / vips flip horizontal   the two PNGs (metadata stripped)
# Intermediates are .v files (libvips' own uncompressed format) in a temp folder.
set -eu
out=$1
size=$2
input=$3
stem=$(basename "$input" .jpg)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
vipsthumbnail "$input" --size "$size" --smartcrop centre -o "$work/thumb.v"
vips colourspace "$work/thumb.v" "$work/gray.v" b-w
low=$(vips percent "$work/gray.v" 3)
high=$(vips percent "$work/gray.v" 97)
scale=$(awk -v l="$low" -v h="$high" 'BEGIN { d = h - l; if (d < 1) d = 1; printf "%.6f", 255 / d }')
offset=$(awk -v l="$low" -v s="$scale" 'BEGIN { printf "%.6f", -l * s }')
vips linear --uchar -- "$work/gray.v" "$work/stretched.v" "$scale" "$offset"
vips copy "$work/stretched.v" "$out/$stem.png[strip]"
vips flip "$work/stretched.v" "$out/${stem}_mirror.png[strip]" horizontal
