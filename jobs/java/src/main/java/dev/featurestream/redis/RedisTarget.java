package dev.featurestream.redis;

import redis.clients.jedis.ClusterPipeline;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.JedisCluster;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.RedisProtocol;
import redis.clients.jedis.Response;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.exceptions.JedisNoScriptException;
import redis.clients.jedis.util.JedisClusterCRC16;

import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where the sink writes: one standalone Redis or one Redis Cluster, chosen by the URL alone (the rule
 * of Python's {@code featurestream.online.client}): {@code redis://} and {@code rediss://} (TLS) name a
 * server, {@code redis+cluster://} and {@code rediss+cluster://} a cluster seeded from that node.
 *
 * <p>A batch is written with the write script ({@code online.scripts.WRITE_LUA}, given as an option):
 * EVALSHA per chunk of rows (the script is loaded once per connection; a NOSCRIPT reply loads it again
 * and the batch is resent), all chunks in one pipeline. On a cluster every call holds keys of one slot
 * (a key's hash tag puts all of an entity's views in one slot), the calls go as one pipeline per node,
 * and a call that failed on a moved slot, a missing script or a lost node is sent once more through
 * the cluster client, which follows redirections. Resending is safe: the script is idempotent.
 */
abstract class RedisTarget implements AutoCloseable {
    static final int CONNECT_TIMEOUT_MS = 2_000;
    static final int SOCKET_TIMEOUT_MS = 30_000;

    final byte[] script;
    final byte[] ttl;
    final int chunkRows;

    RedisTarget(String script, long ttlMs, int chunkRows) {
        this.script = script.getBytes(StandardCharsets.UTF_8);
        this.ttl = Long.toString(ttlMs).getBytes(StandardCharsets.US_ASCII);
        this.chunkRows = chunkRows;
    }

    /** Writes the rows (keys[i] -> rows[i], applied in order); returns how many the script applied. */
    abstract long write(List<byte[]> keys, List<byte[]> rows) throws IOException;

    @Override
    public abstract void close();

    static boolean isCluster(String url) {
        String scheme = URI.create(url).getScheme();
        return "redis+cluster".equals(scheme) || "rediss+cluster".equals(scheme);
    }

    /** Checks the URL's form when the job is planned (no connection is made). */
    static void validate(String url) {
        URI uri;
        try {
            uri = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("featurestream-redis: not a URL: " + e.getMessage());
        }
        String scheme = uri.getScheme();
        if (scheme == null
                || !(scheme.equals("redis")
                        || scheme.equals("rediss")
                        || scheme.equals("redis+cluster")
                        || scheme.equals("rediss+cluster"))) {
            throw new IllegalArgumentException(
                    "featurestream-redis expects a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL, found "
                            + scheme
                            + "://");
        }
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("featurestream-redis: the URL names no host");
        }
    }

    static RedisTarget open(String url, String password, String script, long ttlMs, int chunkRows) {
        URI uri = URI.create(url);
        String scheme = uri.getScheme();
        boolean tls = scheme.startsWith("rediss");
        DefaultJedisClientConfig.Builder config =
                DefaultJedisClientConfig.builder()
                        .connectionTimeoutMillis(CONNECT_TIMEOUT_MS)
                        .socketTimeoutMillis(SOCKET_TIMEOUT_MS)
                        .protocol(RedisProtocol.RESP2) // the script's reply is an integer either way
                        .ssl(tls);
        String info = uri.getRawUserInfo();
        String user = null;
        String urlPassword = null;
        if (info != null) {
            int colon = info.indexOf(':');
            user = decode(colon < 0 ? info : info.substring(0, colon));
            urlPassword = colon < 0 ? null : decode(info.substring(colon + 1));
        }
        if (user != null && !user.isEmpty()) {
            config.user(user);
        }
        String pw = password != null && !password.isEmpty() ? password : urlPassword;
        if (pw != null && !pw.isEmpty()) {
            config.password(pw);
        }
        HostAndPort node = new HostAndPort(uri.getHost(), uri.getPort() > 0 ? uri.getPort() : 6379);
        if (isCluster(url)) {
            return new Cluster(node, config.build(), script, ttlMs, chunkRows);
        }
        String path = uri.getPath() == null ? "" : uri.getPath().replace("/", "");
        if (!path.isEmpty()) {
            config.database(Integer.parseInt(path));
        }
        return new Standalone(node, config.build(), script, ttlMs, chunkRows);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    /** The script's arguments for rows [from, to): the ttl, then the rows. */
    final List<byte[]> args(List<byte[]> rows, int from, int to) {
        List<byte[]> args = new ArrayList<>(1 + to - from);
        args.add(ttl);
        args.addAll(rows.subList(from, to));
        return args;
    }

    /** The IOException for a reply Redis refused; {@link OutOfMemory} when it is out of memory. */
    static IOException refused(JedisDataException e) {
        String msg = String.valueOf(e.getMessage());
        if (msg.startsWith("OOM")) {
            return new OutOfMemory(
                    "Redis is out of memory (maxmemory reached) and refused the write: "
                            + msg
                            + " (raise the server's maxmemory, shorten the views' ttl, or move views to another store)",
                    e);
        }
        return new IOException("Redis refused the write: " + msg, e);
    }

    /** Redis answered OOM: counted as featurestream_online_store_full, then the task fails. */
    static final class OutOfMemory extends IOException {
        private static final long serialVersionUID = 1L;

        OutOfMemory(String message, Throwable cause) {
            super(message, cause);
        }
    }

    // -------------------------------------------------------------------------------- standalone

    static final class Standalone extends RedisTarget {
        private final HostAndPort node;
        private final JedisClientConfig config;
        private Jedis jedis;
        private byte[] sha;

        Standalone(HostAndPort node, JedisClientConfig config, String script, long ttlMs, int chunkRows) {
            super(script, ttlMs, chunkRows);
            this.node = node;
            this.config = config;
        }

        @Override
        long write(List<byte[]> keys, List<byte[]> rows) throws IOException {
            for (int attempt = 0; ; attempt++) {
                try {
                    if (jedis == null) {
                        jedis = new Jedis(node, config);
                        sha = jedis.scriptLoad(script);
                    }
                    return send(keys, rows);
                } catch (JedisNoScriptException e) {
                    sha = jedis.scriptLoad(script); // a restarted or flushed server: load, then resend
                    if (attempt > 0) {
                        throw refused(e);
                    }
                } catch (JedisConnectionException e) {
                    close(); // a dropped connection: one new one, then the batch again
                    if (attempt > 0) {
                        throw new IOException("cannot write to Redis at " + node + ": " + e.getMessage(), e);
                    }
                } catch (JedisDataException e) {
                    throw refused(e);
                }
            }
        }

        private long send(List<byte[]> keys, List<byte[]> rows) {
            List<Response<Object>> replies = new ArrayList<>();
            try (Pipeline p = jedis.pipelined()) {
                for (int from = 0; from < keys.size(); from += chunkRows) {
                    int to = Math.min(keys.size(), from + chunkRows);
                    replies.add(p.evalsha(sha, keys.subList(from, to), args(rows, from, to)));
                }
                p.sync();
            }
            long applied = 0;
            for (Response<Object> r : replies) {
                applied += (Long) r.get(); // an error reply throws its JedisDataException
            }
            return applied;
        }

        @Override
        public void close() {
            if (jedis != null) {
                try {
                    jedis.close();
                } catch (JedisException ignored) {
                    // a broken connection: nothing left to release
                }
                jedis = null;
            }
        }
    }

    // -------------------------------------------------------------------------------- cluster

    static final class Cluster extends RedisTarget {
        private final JedisCluster cluster;
        private final byte[] sha;

        Cluster(HostAndPort seed, JedisClientConfig config, String script, long ttlMs, int chunkRows) {
            super(script, ttlMs, chunkRows);
            this.cluster = new JedisCluster(Collections.singleton(seed), config, 5);
            this.sha = sha1Hex(this.script);
        }

        @Override
        long write(List<byte[]> keys, List<byte[]> rows) throws IOException {
            // one call per chunk of rows of one slot; rows of one key keep their order
            Map<Integer, List<Integer>> bySlot = new TreeMap<>();
            for (int i = 0; i < keys.size(); i++) {
                bySlot.computeIfAbsent(JedisClusterCRC16.getSlot(keys.get(i)), s -> new ArrayList<>()).add(i);
            }
            List<List<byte[]>> callKeys = new ArrayList<>();
            List<List<byte[]>> callArgs = new ArrayList<>();
            for (List<Integer> pos : bySlot.values()) {
                for (int from = 0; from < pos.size(); from += chunkRows) {
                    List<Integer> part = pos.subList(from, Math.min(pos.size(), from + chunkRows));
                    List<byte[]> ks = new ArrayList<>(part.size());
                    List<byte[]> as = new ArrayList<>(part.size() + 1);
                    as.add(ttl);
                    for (int i : part) {
                        ks.add(keys.get(i));
                        as.add(rows.get(i));
                    }
                    callKeys.add(ks);
                    callArgs.add(as);
                }
            }
            List<Response<Object>> replies = new ArrayList<>(callKeys.size());
            boolean sent;
            try (ClusterPipeline p = cluster.pipelined()) {
                for (int c = 0; c < callKeys.size(); c++) {
                    replies.add(p.evalsha(sha, callKeys.get(c), callArgs.get(c)));
                }
                p.sync();
                sent = true;
            } catch (JedisException e) {
                sent = false; // a node lost mid-pipeline: every call goes again below (idempotent)
            }
            long applied = 0;
            for (int c = 0; c < callKeys.size(); c++) {
                if (sent) {
                    try {
                        applied += (Long) replies.get(c).get();
                        continue;
                    } catch (JedisDataException e) {
                        if (String.valueOf(e.getMessage()).startsWith("OOM")) {
                            throw refused(e);
                        }
                        // NOSCRIPT, MOVED, ASK, TRYAGAIN, CLUSTERDOWN: once more through the cluster client
                    }
                }
                applied += resend(callKeys.get(c), callArgs.get(c));
            }
            return applied;
        }

        private long resend(List<byte[]> ks, List<byte[]> as) throws IOException {
            try {
                try {
                    return (Long) cluster.evalsha(sha, ks, as);
                } catch (JedisNoScriptException e) {
                    cluster.scriptLoad(script, ks.get(0)); // on the node that owns the slot
                    return (Long) cluster.evalsha(sha, ks, as);
                }
            } catch (JedisConnectionException e) {
                throw new IOException("cannot write to the Redis Cluster: " + e.getMessage(), e);
            } catch (JedisDataException e) {
                throw refused(e);
            }
        }

        @Override
        public void close() {
            cluster.close();
        }
    }

    static byte[] sha1Hex(byte[] data) {
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-1").digest(data);
            StringBuilder b = new StringBuilder(40);
            for (byte x : d) {
                b.append(String.format("%02x", x & 0xff));
            }
            return b.toString().getBytes(StandardCharsets.US_ASCII);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
