// screens/shop.js - catalogue, cart, checkout and payment, orders (new ones
// and the legacy shop's, read-only), one order's details, the payment result,
// and linking the legacy shop account.
//   #/shop  #/shop/cart  #/shop/orders  #/shop/orders/<id>  #/shop/result?order=<id>  #/shop/link
import { get, items, post, put } from '../api.js';
import { errorNotice, errorText } from '../errors.js';
import { dateTime, money, t } from '../i18n.js';
import { withStepUp } from '../stepup.js';
import { haptic, hideMainButton, openExternal, openInvoice, setMainButton, tg } from '../tg.js';
import { field, h, mount, notice, section, spinner, toast } from '../ui.js';

export const EP = {
  products: '/api/v1/shop/products',
  cart: '/api/v1/shop/cart', // GET, PUT {items: [{sku, qty}]}
  checkout: '/api/v1/shop/checkout', // POST {provider, items} + Idempotency-Key
  orders: '/api/v1/orders', // ours and the legacy shop's; refs "fg-12" / "legacy-50001"
  order: (ref) => `/api/v1/orders/${encodeURIComponent(ref)}`,
  cancel: (ref) => `/api/v1/orders/${encodeURIComponent(ref)}/cancel`,
  // POST {login, password}: identity's route (asks for a second factor);
  // while it is not served (404), the shop's dev-mode hook (dev stacks only).
  legacyLink: ['/api/v1/me/legacy', '/api/v1/shop/dev/legacy-link'],
};

async function linkLegacy(body) {
  for (const [i, path] of EP.legacyLink.entries()) {
    try {
      return await post(path, body);
    } catch (e) {
      if (e.status !== 404 || i === EP.legacyLink.length - 1) throw e; // 404: the route is not served
    }
  }
  return null;
}

export function render(view, app, sub = '') {
  const [path, query] = (sub || '').split('?');
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'cart') return cart(view, app);
  if (parts[0] === 'orders' && parts[1]) return orderDetails(view, app, parts[1]);
  if (parts[0] === 'orders') return orders(view, app);
  if (parts[0] === 'result') return result(view, app, new URLSearchParams(query || '').get('order'));
  if (parts[0] === 'link') return link(view, app);
  return catalogue(view, app);
}

const STATES = ['pending_payment', 'paid', 'processing', 'shipped', 'delivered', 'completed', 'cancelled', 'refunded'];
const stateText = (s) => (STATES.includes(s) ? t('st.' + s) : s || '–');
const price = (p) => money(p.price_minor ?? p.total_minor, p.currency);

// The cart is the server's; we edit a copy and PUT it back whole.
async function loadCart() {
  const c = await get(EP.cart);
  return { items: items(c, 'items').map((i) => ({ ...i })), raw: c };
}
async function saveCart(list) {
  return put(EP.cart, { items: list.filter((i) => i.qty > 0).map((i) => ({ sku: i.sku, qty: i.qty })) });
}

function catalogue(view, app) {
  view.append(h('h1', null, t('shop.title')),
    h('div', { class: 'actions' },
      h('a', { class: 'button secondary', href: '#/shop/cart', id: 'to-cart' }, t('shop.cart')),
      h('a', { class: 'button secondary', href: '#/shop/orders' }, t('more.orders'))));
  const box = h('div', null, spinner());
  view.append(box);
  (async function load() {
    let list;
    try {
      list = items(await get(EP.products), 'products');
    } catch (e) {
      mount(box, errorNotice(e, load));
      return;
    }
    if (!list.length) { mount(box, h('p', null, t('shop.empty'))); return; }
    // A product has variants (size, colour): each variant is one SKU.
    const skus = list.flatMap((p) => (p.variants?.length ? p.variants.map((v) => ({ ...v, product: p }))
      : [{ ...p, product: p }]));
    mount(box, h('ul', { class: 'list', id: 'products' }, skus.map((v) => {
      const p = v.product;
      const name = p.variants?.length > 1 || (v.title && v.title !== p.title) ? `${p.title} — ${v.title}` : p.title || v.title || v.sku;
      const out = v.stock !== undefined && v.stock <= 0;
      return h('li', { 'data-sku': v.sku }, h('div', { class: 'row' },
        h('div', { class: 'main' }, h('div', { class: 'title' }, name),
          p.description ? h('div', { class: 'sub' }, p.description) : null,
          h('div', { class: 'sub' }, price(v), out ? ` · ${t('shop.outOfStock')}` : '')),
        h('button', { type: 'button', class: 'primary', disabled: out, 'aria-label': t('shop.addOf', { name }),
                      onclick: async (ev) => {
                        ev.target.disabled = true;
                        try {
                          const c = await loadCart();
                          const it = c.items.find((i) => i.sku === v.sku);
                          if (it) it.qty += 1; else c.items.push({ sku: v.sku, qty: 1 });
                          await saveCart(c.items);
                          haptic('light');
                          toast(t('shop.added', { name }));
                        } catch (e) { toast(errorText(e), 'error'); }
                        ev.target.disabled = false;
                      } }, t('shop.add'))));
    })));
  })();
}

function cart(view, app) {
  view.append(h('h1', null, t('shop.cart')));
  const box = h('div', null, spinner());
  view.append(box);
  let c;
  async function load() {
    try {
      c = await loadCart();
    } catch (e) {
      mount(box, errorNotice(e, load));
      return;
    }
    draw();
  }
  function draw(keepMsg) {
    const old = keepMsg ? document.getElementById('checkout-msg') : null;
    if (!c.items.length) {
      hideMainButton();
      mount(box, h('p', { id: 'cart-empty' }, t('shop.cartEmpty')), h('a', { href: '#/shop', class: 'button secondary' }, t('shop.title')));
      return;
    }
    const total_ = c.items.reduce((n, i) => n + (i.price_minor || 0) * i.qty, 0);
    const cur = c.items[0].currency || c.raw.currency;
    mount(box, h('ul', { class: 'list', id: 'cart' }, c.items.map((i) => h('li', { 'data-sku': i.sku }, h('div', { class: 'row' },
      h('div', { class: 'main' }, h('div', { class: 'title' }, i.title || i.sku), h('div', { class: 'sub' }, money(i.price_minor, i.currency || cur))),
      h('div', { class: 'qty', role: 'group', 'aria-label': t('shop.qtyOf', { name: i.title || i.sku }) },
        h('button', { type: 'button', class: 'secondary', 'aria-label': t('shop.less'), onclick: () => change(i, -1) }, '−'),
        h('output', { 'aria-live': 'polite' }, String(i.qty)),
        h('button', { type: 'button', class: 'secondary', 'aria-label': t('shop.moreQty'), onclick: () => change(i, 1) }, '+')))))),
    h('p', { class: 'total', id: 'cart-total' }, t('shop.total', { sum: money(total_, cur) })),
    old || h('div', { id: 'checkout-msg' }));
    setMainButton(t('shop.checkout', { sum: money(total_, cur) }), checkout);
  }
  async function change(i, d) {
    i.qty = Math.max(0, i.qty + d);
    try {
      await saveCart(c.items);
      c.items = c.items.filter((x) => x.qty > 0);
      haptic('select');
    } catch (e) { toast(errorText(e), 'error'); await load(); return; }
    draw();
  }
  // One idempotency key per attempt of this cart: a retry after a dropped
  // connection replays the same order instead of making a second one.
  let idem = null;
  async function checkout() {
    const msg = document.getElementById('checkout-msg');
    mount(msg);
    idem ||= crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
    setMainButton(t('shop.paying'), checkout, { busy: true });
    // Telegram's own payment sheet inside Telegram, ЮKassa's page elsewhere.
    let provider = tg.inTelegram ? 'telegram' : 'yookassa';
    const body = () => ({ provider, items: c.items.map((i) => ({ sku: i.sku, qty: i.qty })) });
    let r;
    try {
      r = await withStepUp(msg, async () => {
        try {
          return await post(EP.checkout, body(), { headers: { 'Idempotency-Key': idem } });
        } catch (e) {
          if (e.code !== 'provider_unavailable') throw e;
          provider = provider === 'telegram' ? 'yookassa' : 'telegram';
          idem = crypto.randomUUID ? crypto.randomUUID() : idem + '-2'; // another body: another key
          return post(EP.checkout, body(), { headers: { 'Idempotency-Key': idem } });
        }
      });
    } catch (e) {
      haptic('error');
      if (e.code === 'cancelled') { draw(); return; }
      const o = e.body?.order;
      if (o) { idem = null; mount(msg, notice('error', errorText(e), { label: t('shop.toOrder'), run: () => app.go(`shop/orders/${o.ref || 'fg-' + o.id}`) })); }
      else if (e.code === 'second_factor_setup_required') mount(msg, notice('error', errorText(e), { label: t('more.security'), run: () => app.go('security') }));
      else mount(msg, notice('error', errorText(e), { label: t('common.retry'), run: checkout }));
      draw(true);
      return;
    }
    idem = null;
    const o = r.order || r;
    const ref = o.ref || `fg-${o.id}`;
    const url = o.payment?.url;
    if (url && o.payment?.provider === 'telegram') {
      await openInvoice(url);
      app.go(`shop/result?order=${ref}`);
    } else if (url) {
      openExternal(url);
      app.go(`shop/result?order=${ref}`);
    } else {
      app.go(`shop/orders/${ref}`);
    }
  }
  load();
  return () => hideMainButton();
}

function orderRow(o) {
  const legacy = o.source === 'legacy';
  const id = o.ref || (legacy ? `legacy-${o.id}` : `fg-${o.id}`);
  return h('li', null, h('a', { class: 'row', href: `#/shop/orders/${id}`, 'data-id': id },
    h('div', { class: 'main' },
      h('div', { class: 'title' }, t('shop.orderNo', { n: o.number || o.id }), legacy ? h('span', { class: 'badge' }, ' ', t('shop.legacy')) : null),
      h('div', { class: 'sub' }, [dateTime(o.created_ms), o.items_summary].filter(Boolean).join(' · '))),
    h('div', { class: 'side' }, h('div', null, o.total_minor !== undefined ? money(o.total_minor, o.currency) : o.total), h('div', { class: 'sub' }, stateText(o.state)))));
}

function orders(view, app) {
  view.append(h('h1', null, t('more.orders')));
  const box = h('div', null, spinner());
  view.append(box);
  (async function load() {
    let body;
    try {
      body = await get(EP.orders);
    } catch (e) {
      mount(box, errorNotice(e, load));
      return;
    }
    const all = items(body, 'orders');
    const mine = all.filter((o) => o.source !== 'legacy');
    const legacy = all.filter((o) => o.source === 'legacy');
    const linked = !!body.legacy?.linked;
    mount(box,
      section(t('shop.newOrders'), mine.length ? h('ul', { class: 'list', id: 'orders' }, mine.map(orderRow)) : h('p', null, t('shop.noOrders'))),
      section(t('shop.oldOrders'),
        legacy.length ? h('ul', { class: 'list', id: 'legacy-orders' }, legacy.map(orderRow)) : null,
        !linked ? h('p', null, t('shop.linkHint'), ' ', h('a', { href: '#/shop/link' }, t('shop.linkGo'))) : null,
        linked && body.legacy.available === false ? notice('error', t('shop.legacyDown')) : null,
        linked && !legacy.length && body.legacy.available !== false ? h('p', null, t('shop.noOrders')) : null));
  })();
}

function orderDetails(view, app, id) {
  const box = h('div', null, spinner());
  view.append(box);
  (async function load() {
    let o;
    try {
      o = await get(EP.order(id));
    } catch (e) {
      mount(box, errorNotice(e, load));
      return;
    }
    const readOnly = o.read_only || o.source === 'legacy';
    mount(box,
      h('h1', null, t('shop.orderNo', { n: o.number || o.id })),
      readOnly ? notice('info', t('shop.legacyRo')) : null,
      o.legacy_status ? h('p', { class: 'hint' }, t('shop.legacyStatus', { s: o.legacy_status })) : null,
      section(null, h('p', { id: 'order-state' }, h('strong', null, stateText(o.state))),
        h('p', { class: 'hint' }, dateTime(o.created_ms))),
      section(t('shop.items'), h('table', null,
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('shop.item')), h('th', { scope: 'col', class: 'num' }, t('shop.qty')),
          h('th', { scope: 'col', class: 'num' }, t('shop.price')))),
        h('tbody', null, items(o.items, 'items').map((i) => h('tr', null, h('td', null, i.title || i.sku),
          h('td', { class: 'num' }, String(i.qty)), h('td', { class: 'num' }, money(i.price_minor, o.currency)))))),
      h('p', { class: 'total' }, t('shop.total', { sum: o.total_minor !== undefined ? money(o.total_minor, o.currency) : o.total }))),
      Array.isArray(o.history) && o.history.length ? section(t('shop.history'), h('ol', { class: 'history' },
        o.history.map((x) => h('li', null, `${dateTime(x.at_ms)} — ${stateText(x.to)}`)))) : null,
      !readOnly && o.state === 'pending_payment' && o.payment?.url
        ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: () => openExternal(o.payment.url) }, t('shop.payNow')))
        : null,
      !readOnly && o.state === 'pending_payment'
        ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', onclick: async () => {
          try { await post(EP.cancel(o.ref || id)); toast(t('shop.cancelled')); load(); } catch (e) { toast(errorText(e), 'error'); }
        } }, t('shop.cancel'))) : null);
  })();
}

// Back from the payment page (or the Telegram sheet): the order's state is
// the only truth; poll it for a short while until the payment settles.
function result(view, app, id) {
  view.append(h('h1', null, t('shop.result')));
  const box = h('div', { 'aria-live': 'polite' }, spinner(t('shop.checking')));
  view.append(box);
  if (!id) { mount(box, notice('error', t('err.invalid'))); return; }
  let timer = null;
  let tries = 0;
  async function poll() {
    let o;
    try {
      o = await get(EP.order(id));
    } catch (e) {
      mount(box, errorNotice(e, poll));
      return;
    }
    const link = h('a', { href: `#/shop/orders/${id}`, class: 'button secondary' }, t('shop.toOrder'));
    if (o.state === 'pending_payment' && tries++ < 20) {
      mount(box, spinner(t('shop.checking')), link);
      timer = setTimeout(poll, 3000);
      return;
    }
    if (o.state === 'pending_payment') mount(box, notice('info', t('shop.pending')), link);
    else if (o.state === 'cancelled') { haptic('error'); mount(box, notice('error', t('shop.failed')), link); }
    else { haptic('success'); mount(box, notice('ok', t('shop.paid', { n: o.number || o.id })), link); }
  }
  poll();
  return () => clearTimeout(timer);
}

function link(view, app) {
  view.append(h('h1', null, t('shop.linkTitle')), h('p', null, t('shop.linkIntro')));
  const login = h('input', { type: 'text', name: 'login', autocomplete: 'username', autocapitalize: 'off', spellcheck: 'false' });
  const pass = h('input', { type: 'password', name: 'password', autocomplete: 'current-password' });
  const msg = h('p', { class: 'form-error', role: 'alert' });
  const f = h('form', { id: 'legacy-link', novalidate: true }, field(t('shop.login'), login), field(t('shop.password'), pass), msg,
    h('button', { type: 'submit', class: 'primary' }, t('shop.linkGo')));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    try {
      await withStepUp(stepBox, () => linkLegacy({ login: login.value.trim(), password: pass.value }));
      pass.value = '';
      haptic('success');
      toast(t('shop.linked'));
      app.go('shop/orders');
    } catch (e) {
      pass.value = '';
      if (e.code === 'cancelled') return;
      haptic('error');
      msg.textContent = errorText(e);
      if (e.code === 'second_factor_setup_required') {
        msg.append(' ', h('a', { href: '#/security' }, t('more.security')));
      }
    }
  });
  const stepBox = h('div');
  view.append(section(null, f), stepBox);
}
