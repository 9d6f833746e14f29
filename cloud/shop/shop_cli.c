/* shop_cli.c - the operators' command line:
 *
 *   fitgate-core shop ACTION ORDER_ID [--data_dir=DIR] [--shop_config=FILE]
 *     ACTION: show | process | ship | deliver | complete | refund | cancel
 *
 * Works on data_dir/core.db directly (run it on the core's host, as its
 * user); the same transitions, history rows and events as the admin API.
 * refund needs the provider settings (shop_config) to return the money.
 * Exit: 0 done, 1 not allowed in the order's state, 2 usage / no such order,
 * 3 error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fitcommon/log.h"
#include "shop_int.h"

static const char *usage =
    "usage: fitgate-core shop ACTION ORDER_ID [--data_dir=DIR] [--shop_config=FILE]\n"
    "  ACTION: show | process | ship | deliver | complete | refund | cancel\n";

static const char *opt(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(arg, name, n) && arg[n] == '=' ? arg + n + 1 : NULL;
}

int shop_cli_main(int argc, char **argv)
{
    const char *data_dir = "data", *cfg = NULL, *action = NULL, *order = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = opt(argv[i], "--data_dir")))
            data_dir = v;
        else if ((v = opt(argv[i], "--shop_config")))
            cfg = v;
        else if (!action)
            action = argv[i];
        else if (!order)
            order = argv[i];
        else
            action = NULL, i = argc;
    }
    char *end = NULL;
    long long id = order ? strtoll(order, &end, 10) : 0;
    if (!action || !order || !*order || *end || id <= 0) {
        fputs(usage, stderr);
        return 2;
    }
    shop_settings s;
    if (shop_settings_load(&s, cfg) < 0)
        return 3;
    s.catalogue_file[0] = '\0'; /* an operator action never re-imports */
    char db[1100];
    snprintf(db, sizeof db, "%s/core.db", data_dir);
    if (access(db, F_OK) != 0) {
        fprintf(stderr, "no core database at %s\n", db);
        return 2;
    }
    shop *sh;
    if (shop_new(&sh, &s, db, 0) < 0)
        return 3;
    int rc = 0;
    if (strcmp(action, "show")) {
        char actor[96];
        const char *who = getenv("USER");
        snprintf(actor, sizeof actor, "cli:%s", who ? who : "operator");
        rc = shop_order_action(sh, id, 0, action, actor);
        if (rc == 1)
            fprintf(stderr, "order %lld: %s is not allowed in its state\n", id, action);
    }
    char *j = rc == 0 || rc == 1 ? shop_order_json(sh, id, 0) : NULL;
    if (j)
        printf("%s\n", j);
    else if (rc == 0 || rc == 2)
        fprintf(stderr, "order %lld not found\n", id), rc = 2;
    free(j);
    shop_free(sh);
    return rc < 0 ? 3 : rc;
}
