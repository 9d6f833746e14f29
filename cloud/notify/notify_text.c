/* notify_text.c - what we say for each event, in English, Russian and
 * Chinese. Pure: no I/O. Unknown or missing data fields fall back to a
 * shorter sentence rather than "(null)". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "notify.h"

enum { L_EN, L_RU, L_ZH };

static int lang_index(const char *lang)
{
    if (lang && strncmp(lang, "ru", 2) == 0)
        return L_RU;
    if (lang && strncmp(lang, "zh", 2) == 0)
        return L_ZH;
    return L_EN;
}

static const char *str(const cJSON *d, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    return cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) < 200 ? v->valuestring
                                                                                  : NULL;
}

static int num(const cJSON *d, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!cJSON_IsNumber(v))
        return 0;
    *out = v->valuedouble;
    return 1;
}

static int welcome(int l, const char *name, char **t)
{
    static const char *const hello[] = {"Welcome to fitgate", "Добро пожаловать в fitgate",
                                        "欢迎使用 fitgate"};
    static const char *const sep[] = {", ", ", ", "，"};
    static const char *const rest[] = {
        "! Open the app to pair your heart-rate strap or scan a gym machine.",
        "! Откройте приложение, чтобы подключить пульсометр или тренажёр.",
        "！打开应用即可连接心率带或扫描健身器材。"};
    return asprintf(t, "%s%s%s%s", hello[l], name ? sep[l] : "", name ? name : "", rest[l]);
}

static int workout(int l, const cJSON *d, char **t)
{
    double dur = 0, hr = 0, dist = 0;
    int has_dur = num(d, "duration_s", &dur), has_hr = num(d, "avg_hr", &hr),
        has_dist = num(d, "distance_m", &dist);
    static const char *const head[] = {"Workout done", "Тренировка завершена", "训练完成"};
    static const char *const min[] = {"min", "мин", "分钟"};
    static const char *const avg[] = {"avg HR", "средний пульс", "平均心率"};
    static const char *const km[] = {"km", "км", "公里"};
    char parts[160] = "";
    size_t o = 0;
    if (has_dur)
        o += (size_t)snprintf(parts + o, sizeof parts - o, ": %.0f %s", dur / 60.0, min[l]);
    if (has_hr && o < sizeof parts)
        o +=
            (size_t)snprintf(parts + o, sizeof parts - o, "%s%s %.0f", o ? ", " : ": ", avg[l], hr);
    if (has_dist && dist > 0 && o < sizeof parts)
        snprintf(parts + o, sizeof parts - o, "%s%.2f %s", o ? ", " : ": ", dist / 1000.0, km[l]);
    return asprintf(t, "%s%s.", head[l], parts);
}

static int achievement(int l, const cJSON *d, char **t)
{
    const char *title = str(d, "title");
    if (!title)
        title = str(d, "achievement");
    static const char *const head[] = {"Achievement unlocked", "Новое достижение", "解锁成就"};
    return title ? asprintf(t, "%s: %s!", head[l], title) : asprintf(t, "%s!", head[l]);
}

static int order(int l, const char *type, const cJSON *d, char **t)
{
    static const struct {
        const char *type;
        const char *text[3];
    } states[] = {
        {EVT_TYPE_ORDER_PLACED,
         {"is placed and waits for payment", "оформлен и ждёт оплаты", "已下单，等待付款"}},
        {EVT_TYPE_ORDER_PAID, {"is paid, thank you", "оплачен, спасибо", "已付款，谢谢"}},
        {EVT_TYPE_ORDER_SHIPPED, {"is on its way", "отправлен", "已发货"}},
        {EVT_TYPE_ORDER_DELIVERED, {"is delivered", "доставлен", "已送达"}},
        {EVT_TYPE_ORDER_CANCELLED, {"is cancelled", "отменён", "已取消"}},
        {EVT_TYPE_ORDER_REFUNDED, {"is refunded", "возвращён, деньги вернутся на карту", "已退款"}},
    };
    static const char *const word[] = {"Order", "Заказ", "订单"};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        if (strcmp(type, states[i].type) != 0)
            continue;
        const char *number = str(d, "number");
        double id = 0;
        if (number)
            return asprintf(t, "%s %s %s.", word[l], number, states[i].text[l]);
        if (num(d, "order_id", &id))
            return asprintf(t, "%s #%.0f %s.", word[l], id, states[i].text[l]);
        return asprintf(t, "%s %s.", word[l], states[i].text[l]);
    }
    return -1; /* completed and others: no message */
}

int notify_every_channel(const char *type, const cJSON *data)
{
    /* Only the e-mail recovery reset: whoever holds the e-mail could have
     * done it, so the messenger must hear of it too. */
    const char *reason = str(data, "reason");
    return type && !strcmp(type, EVT_TYPE_2FA_DISABLED) && reason &&
           !strcmp(reason, "email_recovery");
}

int notify_compose(const char *type, const cJSON *data, const char *lang, const char *first_name,
                   char **text)
{
    *text = NULL;
    int l = lang_index(lang);
    int rc = -1;
    if (strcmp(type, EVT_TYPE_USER_REGISTERED) == 0)
        rc = welcome(l,
                     first_name && first_name[0] ? first_name
                     : str(data, "first_name")   ? str(data, "first_name")
                                                 : str(data, "name"),
                     text);
    else if (strcmp(type, EVT_TYPE_2FA_ENABLED) == 0)
        rc = asprintf(
            text, "%s",
            (const char *[]){
                "Two-factor authentication is on for your fitgate account. If this "
                "was not you, open the app and sign out everywhere.",
                "Двухфакторная аутентификация включена. Если это были не вы, "
                "откройте приложение и завершите все сеансы.",
                "您的 fitgate 账户已开启双重验证。如非本人操作，请打开应用并退出所有会话。"}[l]);
    else if (notify_every_channel(type, data))
        rc = asprintf(
            text, "%s",
            (const char *[]){
                "Two-factor authentication on your fitgate account was reset by e-mail "
                "recovery and all other sessions were signed out. If this was not you, "
                "secure your e-mail, then open the app, set up two-step verification again "
                "and contact support.",
                "Двухфакторная аутентификация вашего аккаунта fitgate сброшена через "
                "восстановление по e-mail, остальные сеансы завершены. Если это были не вы, "
                "защитите почту, затем откройте приложение, снова включите двухэтапную "
                "проверку и напишите в поддержку.",
                "您的 fitgate 账户的双重验证已通过电子邮件恢复被重置，其他会话均已退出。"
                "如非本人操作，请先保护您的邮箱，然后打开应用重新开启两步验证并联系客服。"}[l]);
    else if (strcmp(type, EVT_TYPE_WORKOUT_COMPLETED) == 0)
        rc = workout(l, data, text);
    else if (strcmp(type, EVT_TYPE_ACHIEVEMENT_UNLOCKED) == 0)
        rc = achievement(l, data, text);
    else if (strncmp(type, "fit.order.", 10) == 0)
        rc = order(l, type, data, text);
    if (rc < 0) {
        *text = NULL;
        return -1;
    }
    return 0;
}
