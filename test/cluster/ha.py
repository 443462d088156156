"""Helpers of the cluster suite: drive cluster/run, load a timetable, run a
rush of clients through the multi-host write string that log every
acknowledged result, and check the database against those logs.

Run by Debian's /usr/bin/python3 with psycopg2 (Patroni depends on both).
Clients and checks connect as postgres over loopback TCP, trusted there.
"""
import json
import os
import random
import subprocess
import sys
import threading
import time

import psycopg2
import psycopg2.extensions

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLUSTER_RUN = os.path.join(ROOT, 'cluster', 'run')


# TAP -------------------------------------------------------------------------

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if not cond:
            self.failed += 1
        print('%s %d - %s' % ('ok' if cond else 'not ok', self.n, name), flush=True)
        if not cond and diag is not None:
            self.diag(diag)
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, name, 'got:  %r\nwant: %r' % (got, want))

    def diag(self, text):
        for line in str(text).splitlines():
            print('# ' + line, flush=True)

    def note(self, text):
        self.diag(text)

    def done(self):
        print('1..%d' % self.n, flush=True)
        return 1 if self.failed else 0


# the cluster -------------------------------------------------------------------

class Cluster:
    def __init__(self):
        self.dir = os.environ.get('CLUSTER_DIR', '/tmp/ticket-cluster')
        env = self.run('env').stdout
        vals = dict(line.split('=', 1) for line in env.splitlines() if '=' in line)
        self.write = vals['TICKET_WRITE'].strip("'")
        self.read = vals['TICKET_READ'].strip("'")
        base = int(os.environ.get('CLUSTER_PORT_BASE', '55400'))
        self.ports = {'node%d' % i: base + 40 + i for i in (1, 2, 3)}

    def run(self, *args, check=True):
        return subprocess.run([CLUSTER_RUN] + list(args), check=check, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def members(self):
        out = subprocess.run(['/usr/bin/patronictl', '-c', os.path.join(self.dir, 'node1', 'patroni.yml'),
                              'list', '-f', 'json'], text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout
        try:
            return {m['Member']: m for m in json.loads(out or '[]')}
        except ValueError:
            return {}

    def primary(self):
        for name, m in self.members().items():
            if m.get('Role') == 'Leader' and m.get('State') == 'running':
                return name
        return None

    def sync_standby(self):
        for name, m in self.members().items():
            if m.get('Role') == 'Sync Standby':
                return name
        return None

    def node_dsn(self, node, db='ticket'):
        return 'host=127.0.0.1 port=%d dbname=%s user=postgres connect_timeout=3' % (self.ports[node], db)

    def kill(self, node):
        return self.run('kill', node).stdout.strip()

    def start_node(self, node):
        self.run('start-node', node)

    def wait_healthy(self, limit=180):
        self.run('wait-healthy', str(limit))

    def failover(self, node):
        return self.run('failover', node)

    def logs(self, lines=60):
        return self.run('logs', str(lines), check=False).stdout


def connect(dsn, timeout=3):
    conn = psycopg2.connect(dsn + ' connect_timeout=%d' % timeout)
    conn.autocommit = True
    return conn


def query(dsn, sql, args=None):
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def wait_for(fn, limit, step=0.2):
    t0 = time.time()
    while time.time() - t0 < limit:
        try:
            v = fn()
            if v:
                return v
        except psycopg2.Error:
            pass
        time.sleep(step)
    return None


# the timetable ---------------------------------------------------------------

TRAINS = ['G1', 'G3', 'G5', 'G7']
STATIONS = [('VNP', '北京南'), ('TJP', '天津南'), ('JNK', '济南西'), ('NKH', '南京南'), ('AOH', '上海虹桥')]


def load_timetable(dsn):
    """Four trains over five stations on sale a month ahead of Beijing's
    today: two of 16 cars (1,193 seats), two of 2 cars (80 seats, soon sold
    out); G9 for sales after the rush; G99 for the sweeper's probe."""
    conn = connect(dsn)
    cur = conn.cursor()
    cur.execute("SELECT ((now() AT TIME ZONE 'Asia/Shanghai')::date + 30)::text")
    day = cur.fetchone()[0]
    for code, name in STATIONS + [('HGH', '杭州东')]:
        cur.execute('SELECT ticket.add_station(%s, %s)', (code, name))
    for k, train in enumerate(TRAINS + ['G9']):
        arrive = [None] + ['%02d:%s' % (h + k, m) for h, m in ((8, '30'), (9, '40'), (11, '50'), (13, '00'))]
        depart = ['%02d:%s' % (h + k, m) for h, m in ((8, '00'), (8, '32'), (9, '42'), (11, '52'))] + [None]
        cur.execute("""SELECT ticket.add_train(%s, ARRAY['VNP', 'TJP', 'JNK', 'NKH', 'AOH'],
            %s::interval[], %s::interval[])""", (train, arrive, depart))
        if train in ('G1', 'G3', 'G9'):
            cur.execute('SELECT ticket.add_default_layout(%s)', (train,))
        else:
            cur.execute("SELECT ticket.add_carriage(%s, 1, 'first', 10, 'ACDF')", (train,))
            cur.execute("SELECT ticket.add_carriage(%s, 2, 'second', 8, 'ABCDF')", (train,))
        cur.execute('SELECT ticket.open_sales(%s, %s)', (train, day))
    cur.execute("SELECT ticket.add_train('G99', ARRAY['AOH', 'HGH'], ARRAY[NULL, '15:00']::interval[], ARRAY['14:00', NULL]::interval[])")
    cur.execute("SELECT ticket.add_carriage('G99', 1, 'second', 1, 'A')")
    cur.execute("SELECT ticket.open_sales('G99', %s)", (day,))
    conn.close()
    return day


def short_hold(dsn, day, seconds=2):
    """A hold on the probe train that expires in a few seconds: only the
    sweeper (pg_cron) releases it, nobody else touches that run."""
    conn = connect(dsn)
    cur = conn.cursor()
    cur.execute("SET ticket.hold_timeout = '%ds'" % seconds)
    cur.execute("SELECT order_id FROM ticket.grab(999999, 'G99', %s, 'AOH', 'HGH')", (day,))
    order = cur.fetchone()[0]
    conn.close()
    return order


# the rush ----------------------------------------------------------------------

CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


class Client(threading.Thread):
    """One client: a persistent connection through the write string; each
    step is one transaction; whatever the server acknowledged is logged with
    its time.  A broken connection is reopened (the multi-host string finds
    the new primary) and the client goes on."""

    def __init__(self, no, dsn, day, stop_at, queue=False):
        super().__init__(daemon=True)
        self.no, self.dsn, self.day, self.stop_at, self.queue = no, dsn, day, stop_at, queue
        self.rng = random.Random(no)
        self.acks = []          # (time, kind, payload dict)
        self.errors = {}        # SQLSTATE -> count
        self.broken = 0
        self.conn = None
        self.opened = 0.0       # when the connection in use was opened
        self.users = 0
        self.paid = []          # orders this client paid (to refund some later)

    def user(self):
        self.users += 1
        return self.no * 1000000 + self.users

    def ack(self, kind, **payload):
        payload['opened'] = self.opened
        self.acks.append((time.time(), kind, payload))

    def call(self, sql, args):
        if self.conn is None:
            self.opened = time.time()
            self.conn = connect(self.dsn, timeout=2)
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def step(self):
        train = self.rng.choice(TRAINS)
        a = self.rng.randrange(0, 4)
        b = self.rng.randrange(a + 1, 5)
        frm, to = STATIONS[a][0], STATIONS[b][0]
        cls = self.rng.choice(['second', 'second', 'first'])
        if self.paid and self.rng.random() < 0.15:
            order = self.paid.pop(self.rng.randrange(len(self.paid)))
            status = self.call('SELECT ticket.refund(%s)', (order,))[0][0]
            self.ack('refund', order=order, status=status)
            return
        user = self.user()
        if self.queue:
            req, pos = self.call('SELECT request_id, queue_position FROM ticket.enqueue(%s, %s, %s, %s, %s, %s)',
                                 (user, train, self.day, frm, to, cls))[0]
            self.ack('enqueue', request=req, position=pos, user=user, train=train, frm=frm, to=to, cls=cls)
            status, order, state = self.call(
                "SELECT status, order_id, error_sqlstate FROM ticket.queue_wait(%s, '20 s')", (req,))[0]
            self.ack('queue_answer', request=req, user=user, status=status, order=order, sqlstate=state)
            if status != 'done':
                return
        else:
            order = self.call('SELECT order_id FROM ticket.grab(%s, %s, %s, %s, %s, %s)',
                              (user, train, self.day, frm, to, cls))[0][0]
            self.ack('grab', order=order, user=user)
        if self.rng.random() < 0.25:
            status = self.call('SELECT ticket.cancel(%s)', (order,))[0][0]
            self.ack('cancel', order=order, status=status)
        else:
            status = self.call('SELECT ticket.confirm(%s)', (order,))[0][0]
            self.ack('confirm', order=order, status=status)
            self.paid.append(order)

    def run(self):
        while time.time() < self.stop_at:
            try:
                self.step()
            except CONNECTION_ERRORS:
                self.broken += 1
                try:
                    if self.conn is not None:
                        self.conn.close()
                except psycopg2.Error:
                    pass
                self.conn = None
                time.sleep(0.2)
            except psycopg2.Error as e:
                self.errors[e.pgcode] = self.errors.get(e.pgcode, 0) + 1
                if e.pgcode in ('TK001',):
                    time.sleep(0.05)
            time.sleep(self.rng.uniform(0.01, 0.05))
        if self.conn is not None:
            self.conn.close()


def rush(dsn, day, clients, seconds, queue_clients, during=None):
    """Run clients for `seconds`; `during(start)` runs in this thread
    meanwhile (say, the kill) and its result is returned with the clients."""
    stop_at = time.time() + seconds
    cs = [Client(i + 1, dsn, day, stop_at, queue=(i < queue_clients)) for i in range(clients)]
    start = time.time()
    for c in cs:
        c.start()
    result = during(start) if during else None
    for c in cs:
        c.join(timeout=seconds + 90)
    return cs, result


def all_acks(clients):
    return sorted((a for c in clients for a in c.acks), key=lambda a: a[0])


WRITES = ('grab', 'confirm', 'cancel', 'refund', 'enqueue')


def outage(clients, killed_at):
    """Seconds from the kill to the first write acknowledged after it on a
    connection opened after it (so by the new primary)."""
    after = [t for c in clients for (t, kind, p) in c.acks
             if t > killed_at and kind in WRITES and p['opened'] > killed_at]
    return (min(after) - killed_at) if after else None


# checks --------------------------------------------------------------------------

def lost_writes(dsn, clients):
    """Acknowledged payments, refunds and cancels (and grabs) missing from the
    database: a list of (kind, order, status found)."""
    rows = query(dsn, 'SELECT order_id, status, paid_at IS NOT NULL FROM ticket.orders')
    orders = {r[0]: (r[1], r[2]) for r in rows}
    lost = []
    for c in clients:
        for _, kind, p in c.acks:
            o = p.get('order')
            if kind == 'grab' and o not in orders:
                lost.append((kind, o, None))
            elif kind == 'confirm':
                st = orders.get(o)
                # a refund sent later may have gone through unacknowledged
                if st is None or st[0] not in ('paid', 'refunded') or not st[1]:
                    lost.append((kind, o, st))
            elif kind == 'refund' and (orders.get(o) or (None,))[0] != 'refunded':
                lost.append((kind, o, orders.get(o)))
            elif kind == 'cancel' and (orders.get(o) or (None,))[0] != 'cancelled':
                lost.append((kind, o, orders.get(o)))
            elif kind == 'queue_answer' and p['status'] == 'done' and p['order'] not in orders:
                lost.append((kind, p['order'], None))
    return lost


def reissued_request_ids(dsn, clients):
    """Request ids acknowledged for two different requests (users or
    journeys), or acknowledged to one user and recorded for another."""
    seen = {}
    bad = []
    for c in clients:
        for _, kind, p in c.acks:
            if kind != 'enqueue':
                continue
            key = (p['user'], p['train'], p['frm'], p['to'], p['cls'])
            if p['request'] in seen and seen[p['request']] != key:
                bad.append((p['request'], seen[p['request']], key))
            seen.setdefault(p['request'], key)
    rows = query(dsn, 'SELECT request_id, user_id FROM ticket.queue_request')
    for rid, uid in rows:
        if rid in seen and seen[rid][0] != uid:
            bad.append((rid, seen[rid], ('in the table for user', uid)))
    return bad, len(seen)


CHECKS = {
    'seat legs sold twice': """
        SELECT count(*) FROM ticket.tickets a JOIN ticket.tickets b
          ON a.run_id = b.run_id AND a.seat_id = b.seat_id AND a.ticket_id < b.ticket_id
         AND int4range(ticket.lower(a.legs), ticket.upper(a.legs)) && int4range(ticket.lower(b.legs), ticket.upper(b.legs))
        WHERE a.status IN ('held', 'paid') AND b.status IN ('held', 'paid')""",
    'seat map counts <> live tickets': """
        WITH taken AS (
          SELECT k.run_id, s.carriage_no, leg, count(*) AS n
          FROM ticket.tickets k JOIN ticket.seat s USING (seat_id)
          CROSS JOIN generate_series(ticket.lower(k.legs), ticket.upper(k.legs) - 1) leg
          WHERE k.status IN ('held', 'paid') GROUP BY 1, 2, 3)
        SELECT count(*) FROM ticket.run r JOIN ticket.run_carriage rc USING (run_id)
        CROSS JOIN generate_series(0, r.n_legs - 1) g(leg)
        LEFT JOIN taken x ON x.run_id = r.run_id AND x.carriage_no = rc.carriage_no AND x.leg = g.leg
        WHERE ticket.seatmap_free(rc.map, ticket.segrange(g.leg, g.leg + 1))
           <> (SELECT count(*) FROM ticket.seat s WHERE s.train_id = r.train_id AND s.carriage_no = rc.carriage_no)
              - coalesce(x.n, 0)""",
    'remaining <> a recount from the tickets': """
        WITH j AS (
          SELECT r.run_id, t.code, r.service_date, a.stop_no AS a, b.stop_no AS b,
                 sa.code AS frm, sb.code AS too
          FROM ticket.run r JOIN ticket.train t USING (train_id)
          JOIN ticket.stop a ON a.train_id = t.train_id JOIN ticket.stop b ON b.train_id = t.train_id AND b.stop_no > a.stop_no
          JOIN ticket.station sa ON sa.station_id = a.station_id JOIN ticket.station sb ON sb.station_id = b.station_id),
        recount AS (
          SELECT j.run_id, j.a, j.b, c.seat_class::text AS seat_class, count(*) AS n
          FROM j JOIN ticket.run r USING (run_id) JOIN ticket.carriage c ON c.train_id = r.train_id
          JOIN ticket.seat s ON s.train_id = c.train_id AND s.carriage_no = c.carriage_no
          WHERE NOT EXISTS (SELECT 1 FROM ticket.tickets k WHERE k.run_id = j.run_id AND k.seat_id = s.seat_id
                            AND k.status IN ('held', 'paid') AND k.legs OPERATOR(ticket.&&) ticket.segrange(j.a, j.b)
                            AND NOT (k.status = 'held' AND k.hold_until <= now()))
          GROUP BY 1, 2, 3, 4)
        SELECT count(*) FROM j CROSS JOIN LATERAL ticket.remaining(j.code, j.service_date, j.frm, j.too) rm
        LEFT JOIN recount x ON x.run_id = j.run_id AND x.a = j.a AND x.b = j.b AND x.seat_class = rm.seat_class
        WHERE rm.remaining <> coalesce(x.n, 0)""",
    'users with 2 unpaid orders on a run': """
        SELECT count(*) FROM (SELECT o.user_id, o.run_id FROM ticket.orders o WHERE o.status = 'held'
                              GROUP BY 1, 2 HAVING count(*) > 1) x""",
    'queue requests served out of order': """
        SELECT count(*) FROM (
          SELECT q.service_no, lag(q.service_no) OVER (PARTITION BY q.run_id ORDER BY q.queue_position) AS before
          FROM ticket.queue_request q WHERE q.status <> 'waiting') x
        WHERE x.service_no < x.before""",
}


def consistency(dsn):
    return {name: query(dsn, sql)[0][0] for name, sql in CHECKS.items()}


def remaining_all(dsn):
    return query(dsn, """SELECT t.code, r.service_date::text, rm.seat_class, rm.remaining
        FROM ticket.run r JOIN ticket.train t USING (train_id)
        -- (not the sweeper's probe: its hold expires by the clock, its answer changes by itself)
        CROSS JOIN LATERAL ticket.remaining(t.code, r.service_date,
            (SELECT s.code FROM ticket.stop p JOIN ticket.station s USING (station_id) WHERE p.train_id = t.train_id ORDER BY p.stop_no LIMIT 1),
            (SELECT s.code FROM ticket.stop p JOIN ticket.station s USING (station_id) WHERE p.train_id = t.train_id ORDER BY p.stop_no DESC LIMIT 1)) rm
        WHERE t.code <> 'G99'
        ORDER BY 1, 2, 3""")


def wait_replayed(cluster, nodes, limit=60):
    """Wait until each standby has replayed what the primary has written."""
    lsn = query(cluster.write, 'SELECT pg_current_wal_lsn()::text')[0][0]
    for n in nodes:
        ok = wait_for(lambda: query(cluster.node_dsn(n),
                                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0], limit)
        if not ok:
            return False
    return True


def summary(clients):
    kinds = {}
    for c in clients:
        for _, kind, _ in c.acks:
            kinds[kind] = kinds.get(kind, 0) + 1
    errors = {}
    for c in clients:
        for k, v in c.errors.items():
            errors[k] = errors.get(k, 0) + v
    return kinds, errors, sum(c.broken for c in clients)


def save_log(path, clients):
    with open(path, 'w') as f:
        for c in clients:
            for t, kind, p in c.acks:
                f.write(json.dumps({'t': t, 'client': c.no, 'kind': kind, **p}) + '\n')


def median(xs):
    s = sorted(xs)
    n = len(s)
    return (s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2) if s else None


if __name__ == '__main__':
    sys.exit('a module of the cluster suite: run test/run-cluster-suite')
