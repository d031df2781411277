package dev.featurestream.redis;

import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.List;

/**
 * One feature row of the sink's table -> its Redis key and its compact row, byte for byte as
 * Python's {@code featurestream.online.keys} writes them (that module owns the format; the key's
 * prefix and suffix come from its {@code key_parts} as options, never rebuilt here):
 *
 * <ul>
 *   <li>the columns are {@code <entities>, feature_time, created_at, <features>} in that order;
 *   <li>the key is {@code prefix + entity + suffix}; the entity part is each entity value's text with
 *       {@code \} and {@code |} backslash-escaped, joined by {@code |} ({@code encode_entity});
 *   <li>a row whose entity value is NULL, or text empty or of spaces only, has no key ({@code
 *       is_keyless}): {@link #key} returns null and the row is never stored;
 *   <li>the row is {@code [feature_time_ms,created_ms,v1,...,vn]} ({@code encode_row}): times as epoch
 *       ms UTC (a TIMESTAMP holds UTC), a NULL created_at is the write time; each value as orjson
 *       writes the Python value a pandas UDF received: numbers, booleans, strings (orjson's escapes),
 *       arrays, dates, datetimes, null; NaN and infinities are null; FLOAT is widened to double; a double in orjson's notation (decimal for exponents -5..15,
 *       else {@code 1.5e-7} / {@code 1e+16}) from Java's digits, which read back as the same double.
 * </ul>
 */
final class RowEncoder implements Serializable {
    private static final long serialVersionUID = 1L;

    private static final byte[] NULL = "null".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TRUE = "true".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] FALSE = "false".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    private final byte[] prefix;
    private final byte[] suffix;
    private final int entities;
    private final LogicalType[] entityTypes;
    private final LogicalType[] features;

    RowEncoder(String prefix, String suffix, RowType rowType, int entities) {
        List<RowType.RowField> fields = rowType.getFields();
        if (entities < 1 || fields.size() < entities + 3) {
            throw new ValidationException(
                    "featurestream-redis expects the columns <entities>, feature_time, created_at, "
                            + "<features> (at least one of each) with key.columns = "
                            + entities
                            + ", found "
                            + rowType);
        }
        this.entityTypes = new LogicalType[entities];
        for (int i = 0; i < entities; i++) {
            check(fields.get(i), false);
            entityTypes[i] = fields.get(i).getType();
        }
        for (int i = entities; i < entities + 2; i++) {
            if (!isTimestamp(fields.get(i).getType())) {
                throw new ValidationException(
                        "featurestream-redis: column "
                                + fields.get(i).getName()
                                + " must be a TIMESTAMP or TIMESTAMP_LTZ, found "
                                + fields.get(i).getType());
            }
        }
        this.features = new LogicalType[fields.size() - entities - 2];
        for (int i = 0; i < features.length; i++) {
            RowType.RowField f = fields.get(entities + 2 + i);
            check(f, true);
            features[i] = f.getType();
        }
        this.prefix = prefix.getBytes(StandardCharsets.UTF_8);
        this.suffix = suffix.getBytes(StandardCharsets.UTF_8);
        this.entities = entities;
    }

    private static boolean isTimestamp(LogicalType t) {
        switch (t.getTypeRoot()) {
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                return true;
            default:
                return false;
        }
    }

    /** Refuses a column type the online row has no encoding for, when the job is planned. */
    private static void check(RowType.RowField field, boolean feature) {
        LogicalType t = field.getType();
        boolean ok;
        switch (t.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
                ok = true;
                break;
            case BOOLEAN:
            case FLOAT:
            case DOUBLE:
            case DATE:
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                ok = feature;
                break;
            case ARRAY:
                ok = feature && supportedElement(((ArrayType) t).getElementType());
                break;
            default:
                ok = false;
        }
        if (!ok) {
            throw new ValidationException(
                    "featurestream-redis cannot store "
                            + (feature ? "feature " : "entity column ")
                            + field.getName()
                            + " of type "
                            + t
                            + (feature
                                    ? "; features may be STRING, BOOLEAN, integer, FLOAT, DOUBLE, DATE, "
                                            + "TIMESTAMP or an ARRAY of those: CAST it in the view's SELECT"
                                    : "; entity columns are STRING or integer (the compiler casts them to STRING)"));
        }
    }

    private static boolean supportedElement(LogicalType t) {
        switch (t.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
            case BOOLEAN:
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
            case FLOAT:
            case DOUBLE:
                return true;
            default:
                return false;
        }
    }

    // ------------------------------------------------------------------------------------ key

    /** The row's key (UTF-8), or null when an entity value is NULL or blank (never stored). */
    byte[] key(RowData row) {
        Buffer out = new Buffer(prefix.length + suffix.length + 32);
        out.write(prefix);
        for (int i = 0; i < entities; i++) {
            if (row.isNullAt(i)) {
                return null;
            }
            byte[] text = entityText(row, i, entityTypes[i]);
            if (blank(text)) {
                return null;
            }
            if (i > 0) {
                out.write('|');
            }
            for (byte b : text) {
                if (b == '\\' || b == '|') {
                    out.write('\\');
                }
                out.write(b);
            }
        }
        out.write(suffix);
        return out.toByteArray();
    }

    private static byte[] entityText(RowData row, int pos, LogicalType t) {
        switch (t.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return row.getString(pos).toBytes();
            case TINYINT:
                return Byte.toString(row.getByte(pos)).getBytes(StandardCharsets.US_ASCII);
            case SMALLINT:
                return Short.toString(row.getShort(pos)).getBytes(StandardCharsets.US_ASCII);
            case INTEGER:
                return Integer.toString(row.getInt(pos)).getBytes(StandardCharsets.US_ASCII);
            default:
                return Long.toString(row.getLong(pos)).getBytes(StandardCharsets.US_ASCII);
        }
    }

    /** Empty or spaces only: Python's {@code value.strip(KEY_BLANKS)} with KEY_BLANKS = " ". */
    private static boolean blank(byte[] text) {
        for (byte b : text) {
            if (b != ' ') {
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------------------------ row

    /** The compact row; {@code nowMs} stands in for a NULL created_at. */
    byte[] row(RowData row, long nowMs) {
        if (row.isNullAt(entities)) {
            throw new IllegalArgumentException("feature_time is NULL; every row needs one");
        }
        Buffer out = new Buffer(64 + 16 * features.length);
        out.write('[');
        out.ascii(Long.toString(millis(row, entities)));
        out.write(',');
        out.ascii(Long.toString(row.isNullAt(entities + 1) ? nowMs : millis(row, entities + 1)));
        for (int i = 0; i < features.length; i++) {
            out.write(',');
            int pos = entities + 2 + i;
            if (row.isNullAt(pos)) {
                out.write(NULL);
            } else {
                value(out, row, pos, features[i]);
            }
        }
        out.write(']');
        return out.toByteArray();
    }

    /** Epoch ms UTC of a timestamp column (a TIMESTAMP holds UTC; sub-ms precision floors). */
    private static long millis(RowData row, int pos) {
        return row.getTimestamp(pos, 3).getMillisecond();
    }

    private static void value(Buffer out, RowData row, int pos, LogicalType t) {
        switch (t.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                string(out, row.getString(pos).toBytes());
                break;
            case BOOLEAN:
                out.write(row.getBoolean(pos) ? TRUE : FALSE);
                break;
            case TINYINT:
                out.ascii(Byte.toString(row.getByte(pos)));
                break;
            case SMALLINT:
                out.ascii(Short.toString(row.getShort(pos)));
                break;
            case INTEGER:
                out.ascii(Integer.toString(row.getInt(pos)));
                break;
            case BIGINT:
                out.ascii(Long.toString(row.getLong(pos)));
                break;
            case FLOAT:
                number(out, row.getFloat(pos));
                break;
            case DOUBLE:
                number(out, row.getDouble(pos));
                break;
            case DATE:
                out.write('"');
                out.ascii(LocalDate.ofEpochDay(row.getInt(pos)).toString());
                out.write('"');
                break;
            case TIMESTAMP_WITHOUT_TIME_ZONE:
                timestamp(out, row.getTimestamp(pos, 9), false);
                break;
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                timestamp(out, row.getTimestamp(pos, 9), true);
                break;
            default: // ARRAY, checked when planned
                array(out, row.getArray(pos), ((ArrayType) t).getElementType());
        }
    }

    private static void array(Buffer out, ArrayData a, LogicalType element) {
        out.write('[');
        for (int i = 0; i < a.size(); i++) {
            if (i > 0) {
                out.write(',');
            }
            if (a.isNullAt(i)) {
                out.write(NULL);
                continue;
            }
            switch (element.getTypeRoot()) {
                case CHAR:
                case VARCHAR:
                    string(out, a.getString(i).toBytes());
                    break;
                case BOOLEAN:
                    out.write(a.getBoolean(i) ? TRUE : FALSE);
                    break;
                case TINYINT:
                    out.ascii(Byte.toString(a.getByte(i)));
                    break;
                case SMALLINT:
                    out.ascii(Short.toString(a.getShort(i)));
                    break;
                case INTEGER:
                    out.ascii(Integer.toString(a.getInt(i)));
                    break;
                case BIGINT:
                    out.ascii(Long.toString(a.getLong(i)));
                    break;
                case FLOAT:
                    number(out, a.getFloat(i));
                    break;
                default:
                    number(out, a.getDouble(i));
            }
        }
        out.write(']');
    }

    /**
     * orjson's text of a datetime as Python receives a timestamp value: a TIMESTAMP is naive, a
     * TIMESTAMP_LTZ is in the job's time zone, UTC ({@code +00:00}); microseconds only when not zero.
     */
    private static void timestamp(Buffer out, TimestampData ts, boolean utc) {
        LocalDateTime t = ts.toLocalDateTime();
        int micros = t.getNano() / 1000;
        out.write('"');
        out.ascii(
                String.format(
                        "%04d-%02d-%02dT%02d:%02d:%02d",
                        t.getYear(),
                        t.getMonthValue(),
                        t.getDayOfMonth(),
                        t.getHour(),
                        t.getMinute(),
                        t.getSecond()));
        if (micros != 0) {
            out.ascii(String.format(".%06d", micros));
        }
        if (utc) {
            out.ascii("+00:00");
        }
        out.write('"');
    }

    /** A JSON string as orjson writes it: {@code "} and {@code \} escaped, control characters as
     * {@code \n \r \t \b \f} or {@code &#92;u00XX}, everything else (UTF-8 included) as it is. */
    static void string(Buffer out, byte[] utf8) {
        out.write('"');
        for (byte b : utf8) {
            int c = b & 0xff;
            if (c == '"' || c == '\\') {
                out.write('\\');
                out.write(b);
            } else if (c >= 0x20) {
                out.write(b);
            } else if (c == '\n') {
                out.write('\\');
                out.write('n');
            } else if (c == '\r') {
                out.write('\\');
                out.write('r');
            } else if (c == '\t') {
                out.write('\\');
                out.write('t');
            } else if (c == '\b') {
                out.write('\\');
                out.write('b');
            } else if (c == '\f') {
                out.write('\\');
                out.write('f');
            } else {
                out.ascii("\\u00");
                out.write(HEX[c >> 4]);
                out.write(HEX[c & 0xf]);
            }
        }
        out.write('"');
    }

    /** A double in orjson's notation; NaN and infinities are null. */
    static void number(Buffer out, double d) {
        if (Double.isNaN(d) || Double.isInfinite(d)) {
            out.write(NULL);
            return;
        }
        out.ascii(orjsonText(d));
    }

    /**
     * orjson's text of a finite double: the shortest digits (Java's {@link Double#toString}, which
     * always reads back as the same double), written in decimal when the decimal exponent is in
     * -5..15 ({@code 0.00001}, {@code 123.0}, {@code 1000000000000000.0}), else as {@code d.ddde-7}
     * or {@code de+16}.
     */
    static String orjsonText(double d) {
        String s = Double.toString(Math.abs(d));
        String sign = (Double.doubleToRawLongBits(d) < 0) ? "-" : "";
        int e = s.indexOf('E');
        String mantissa = e < 0 ? s : s.substring(0, e);
        int exp = e < 0 ? 0 : Integer.parseInt(s.substring(e + 1));
        int dot = mantissa.indexOf('.');
        String digits = mantissa.substring(0, dot) + mantissa.substring(dot + 1);
        int point = dot + exp; // the value is 0.<digits> * 10^point, before stripping zeros
        int lead = 0;
        while (lead < digits.length() - 1 && digits.charAt(lead) == '0') {
            lead++;
        }
        digits = digits.substring(lead);
        point -= lead;
        int end = digits.length();
        while (end > 1 && digits.charAt(end - 1) == '0') {
            end--;
        }
        digits = digits.substring(0, end);
        if (digits.equals("0")) {
            return sign + "0.0";
        }
        int sci = point - 1; // value = d.ddd * 10^sci
        StringBuilder b = new StringBuilder(sign);
        if (sci >= -5 && sci < 16) {
            if (sci >= 0) {
                if (digits.length() <= sci + 1) {
                    b.append(digits).append("0".repeat(sci + 1 - digits.length())).append(".0");
                } else {
                    b.append(digits, 0, sci + 1).append('.').append(digits, sci + 1, digits.length());
                }
            } else {
                b.append("0.").append("0".repeat(-sci - 1)).append(digits);
            }
        } else {
            b.append(digits.charAt(0));
            if (digits.length() > 1) {
                b.append('.').append(digits, 1, digits.length());
            }
            b.append('e').append(sci < 0 ? '-' : '+').append(Math.abs(sci));
        }
        return b.toString();
    }

    /** A growable byte buffer (no synchronisation, unlike ByteArrayOutputStream's). */
    static final class Buffer {
        private byte[] buf;
        private int len;

        Buffer(int capacity) {
            buf = new byte[capacity];
        }

        void write(int b) {
            if (len == buf.length) {
                grow(1);
            }
            buf[len++] = (byte) b;
        }

        void write(byte[] bytes) {
            if (len + bytes.length > buf.length) {
                grow(bytes.length);
            }
            System.arraycopy(bytes, 0, buf, len, bytes.length);
            len += bytes.length;
        }

        void ascii(String s) {
            int n = s.length();
            if (len + n > buf.length) {
                grow(n);
            }
            for (int i = 0; i < n; i++) {
                buf[len++] = (byte) s.charAt(i);
            }
        }

        private void grow(int need) {
            buf = java.util.Arrays.copyOf(buf, Math.max(buf.length * 2, len + need));
        }

        byte[] toByteArray() {
            return java.util.Arrays.copyOf(buf, len);
        }
    }
}
