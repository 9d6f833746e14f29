/* qr_svg.c - a QR code as a small SVG document (libqrencode), for the TOTP
 * otpauth URI: one path of unit squares, a 4-module quiet zone. */
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idn_int.h"

char *idn_qr_svg(const char *text)
{
    QRcode *qr = text ? QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) : NULL;
    if (!qr)
        return NULL;
    int w = qr->width, size = w + 8;
    /* Worst case every module dark: "M%d %dh1v1h-1z" is at most ~20 bytes. */
    size_t cap = (size_t)w * (size_t)w * 20 + 512, n = 0;
    char *s = malloc(cap);
    if (!s) {
        QRcode_free(qr);
        return NULL;
    }
    n += (size_t)snprintf(s + n, cap - n,
                          "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                          "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
                          "fill=\"#fff\"/><path fill=\"#000\" d=\"",
                          size, size, size, size);
    for (int y = 0; y < w; y++)
        for (int x = 0; x < w; x++)
            if (qr->data[y * w + x] & 1)
                n += (size_t)snprintf(s + n, cap - n, "M%d %dh1v1h-1z", x + 4, y + 4);
    snprintf(s + n, cap - n, "\"/></svg>");
    QRcode_free(qr);
    return s;
}
