package dev.featurestream.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.table.data.binary.BinaryStringDataUtil;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.utils.DateTimeUtils;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Parses one JSON object per message into the row of a {@code featurestream-json} table, with the
 * semantics of the SQL it replaces: a field's text is what {@code JSON_VALUE(payload, '$.name')}
 * returns (NULL for absent, JSON null, objects and arrays; numbers as Java renders them), and it is
 * typed with Flink SQL's own {@code TRY_CAST} functions (trimmed, {@link BinaryStringDataUtil}).
 * Timestamps are epoch milliseconds or ISO-8601 UTC text ({@code 2026-01-01T00:00:00.123Z}).
 *
 * <p>Never throws on bad input: the row then carries the first reason that applies (in column
 * order, then the event-time rule, then the view's key rules) and the job routes it to the
 * dead-letter topic. The event-time column is never NULL (epoch 0 when unparseable), so the
 * watermark is defined on every row.
 *
 * <p>Per event this is the hot path of a job without de-duplication, so the common shapes skip the
 * text round trip: a JSON integer read into an integer, timestamp or DOUBLE column, a JSON
 * fraction into a DOUBLE column (non-zero and finite: {@code -0.0} and overflow keep the text path,
 * whose result differs in sign or needs the text), and a JSON boolean into a BOOLEAN column take
 * the parser's own number (the same value: both are the correctly rounded value of the same
 * decimal). Everything else, and every value that would not convert, takes the text path, so a
 * reason always quotes the text {@code JSON_VALUE} would return.
 */
final class FeaturestreamJsonDeserializer implements DeserializationSchema<RowData> {
    private static final long serialVersionUID = 1L;
    private static final TimestampData EPOCH = TimestampData.fromEpochMillis(0L);
    // what a rule column holds after reading one message
    private static final byte ABSENT = 0; // absent, JSON null, an object or an array
    private static final byte VALUE = 1; // typed already (values[i])
    private static final byte TEXT = 2; // its JSON_VALUE text (texts[i]), to convert

    private final RowType rowType;
    private final TypeInformation<RowData> producedType;
    private final ParseRules rules;

    private transient JsonFactory json;
    private transient String[] names; // per rule column, interned (Jackson interns field names)
    private transient LogicalType[] types; // per rule column
    private transient int[] outIndex; // per rule column: position in the row, or -1
    private transient int payloadIndex;
    private transient int reasonIndex;
    private transient int eventTimeRule;
    private transient int[] keyRule; // per key rule: its rule column
    private transient byte[] state;
    private transient Object[] values;
    private transient String[] texts;
    private transient int nextField; // where the next field name is looked for first

    FeaturestreamJsonDeserializer(
            RowType rowType, TypeInformation<RowData> producedType, ParseRules rules) {
        this.rowType = rowType;
        this.producedType = producedType;
        this.rules = rules;
        setUp(); // fails at planning time, not on the TaskManager, when the DDL and rules disagree
    }

    @Override
    public void open(InitializationContext context) {
        setUp();
    }

    private void setUp() {
        json = new JsonFactory();
        List<String> fields = rowType.getFieldNames();
        List<ParseRules.Column> cols = rules.columns;
        names = new String[cols.size()];
        types = new LogicalType[cols.size()];
        outIndex = new int[cols.size()];
        eventTimeRule = -1;
        for (int i = 0; i < cols.size(); i++) {
            String name = cols.get(i).name;
            names[i] = name.intern();
            outIndex[i] = fields.indexOf(name);
            if (outIndex[i] < 0) {
                throw new ValidationException(
                        "featurestream-json: column '" + name + "' of the schema option is not a"
                                + " column of the table " + fields);
            }
            types[i] = rowType.getTypeAt(outIndex[i]);
            if (name.equals(rules.eventTime)) {
                eventTimeRule = i;
            }
            checkSupported(name, types[i]);
        }
        if (eventTimeRule < 0) {
            throw new ValidationException(
                    "featurestream-json: event_time '" + rules.eventTime + "' is not a schema column");
        }
        LogicalTypeRoot eventTimeRoot = types[eventTimeRule].getTypeRoot();
        if (eventTimeRoot != LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE
                && eventTimeRoot != LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE) {
            throw new ValidationException(
                    "featurestream-json: event_time '" + rules.eventTime + "' has type "
                            + types[eventTimeRule] + "; expected TIMESTAMP_LTZ(3)");
        }
        keyRule = new int[rules.keys.size()];
        for (int k = 0; k < keyRule.length; k++) {
            keyRule[k] = Arrays.asList(names).indexOf(rules.keys.get(k).name);
            if (keyRule[k] < 0) {
                throw new ValidationException(
                        "featurestream-json: key '" + rules.keys.get(k).name + "' is not a schema column");
            }
        }
        payloadIndex = fields.indexOf(rules.payload);
        reasonIndex = fields.indexOf(rules.reason);
        state = new byte[cols.size()];
        values = new Object[cols.size()];
        texts = new String[cols.size()];
        nextField = 0;
    }

    private static void checkSupported(String name, LogicalType type) {
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
            case BOOLEAN:
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
            case FLOAT:
            case DOUBLE:
            case DECIMAL:
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                return;
            default:
                throw new ValidationException(
                        "featurestream-json: column '" + name + "' has type " + type
                                + "; supported: STRING, BOOLEAN, integers, FLOAT/DOUBLE/DECIMAL,"
                                + " TIMESTAMP/TIMESTAMP_LTZ");
        }
    }

    @Override
    public RowData deserialize(byte[] message) {
        GenericRowData row = new GenericRowData(rowType.getFieldCount());
        if (payloadIndex >= 0 && message != null) {
            row.setField(payloadIndex, StringData.fromBytes(message));
        }
        boolean object = message != null && (readFields(message) || readDecoded(message));
        String reason = null;
        TimestampData eventTime = null;
        if (!object) {
            reason = rules.invalid;
        } else {
            for (int i = 0; i < names.length; i++) {
                ParseRules.Column col = rules.columns.get(i);
                Object value = null;
                if (state[i] == ABSENT) {
                    if (reason == null && col.missing != null) {
                        reason = col.missing;
                    }
                } else if (state[i] == VALUE) {
                    value = values[i];
                } else {
                    value = convert(texts[i], types[i]);
                    if (value == null && reason == null && col.wrong != null) {
                        reason = col.wrong + texts[i];
                    }
                }
                values[i] = value;
                if (i == eventTimeRule) {
                    eventTime = (TimestampData) value;
                } else {
                    row.setField(outIndex[i], value);
                }
            }
            if (reason == null && eventTime == null) {
                reason = rules.eventTimeReason;
            }
            if (reason == null) {
                reason = keyReason();
            }
        }
        row.setField(outIndex[eventTimeRule], eventTime == null ? EPOCH : eventTime);
        if (reasonIndex >= 0 && reason != null) {
            row.setField(reasonIndex, StringData.fromString(reason));
        }
        return row;
    }

    /** The first key rule that applies to the typed values (SQL {@code IS NULL}, {@code TRIM(x) = ''}). */
    private String keyReason() {
        for (int k = 0; k < keyRule.length; k++) {
            ParseRules.Key key = rules.keys.get(k);
            int i = keyRule[k];
            if (values[i] == null) {
                return key.whenNull;
            }
            if (key.whenBlank != null && onlySpaces(values[i].toString())) {
                return key.whenBlank;
            }
        }
        return null;
    }

    /** TRIM(BOTH ' ' FROM text) = '': Flink's TRIM removes the space character only. */
    private static boolean onlySpaces(String text) {
        for (int j = 0; j < text.length(); j++) {
            if (text.charAt(j) != ' ') {
                return false;
            }
        }
        return true;
    }

    /** Reads the top-level fields named by the rules; false unless an object. */
    private boolean readFields(byte[] message) {
        Arrays.fill(state, ABSENT);
        try (JsonParser p = json.createParser(message)) {
            return readObject(p);
        } catch (Exception e) {
            return false;
        }
    }

    /** The same over the payload decoded as the raw format decodes it (invalid UTF-8 replaced). */
    private boolean readDecoded(byte[] message) {
        Arrays.fill(state, ABSENT);
        try (JsonParser p = json.createParser(new String(message, StandardCharsets.UTF_8))) {
            return readObject(p);
        } catch (Exception e) {
            Arrays.fill(state, ABSENT);
            return false;
        }
    }

    private boolean readObject(JsonParser p) throws java.io.IOException {
        if (p.nextToken() != JsonToken.START_OBJECT) {
            return false;
        }
        JsonToken t;
        while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
            int i = ruleOf(p.currentName());
            JsonToken v = p.nextToken();
            if (i < 0) {
                p.skipChildren();
                continue;
            }
            read(p, v, i);
        }
        return t == JsonToken.END_OBJECT;
    }

    /** The rule column named {@code name}, or -1; fields usually come in schema order. */
    private int ruleOf(String name) {
        int n = names.length;
        for (int j = 0, i = nextField; j < n; j++, i = i + 1 == n ? 0 : i + 1) {
            if (names[i] == name) {
                nextField = i + 1 == n ? 0 : i + 1;
                return i;
            }
        }
        for (int i = 0; i < n; i++) { // a parser that did not intern the name
            if (names[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }

    /** Column {@code i}'s value token {@code v} (the last one wins, as for JSON_VALUE). */
    private void read(JsonParser p, JsonToken v, int i) throws java.io.IOException {
        LogicalTypeRoot root = types[i].getTypeRoot();
        state[i] = TEXT;
        values[i] = null;
        switch (v) {
            case VALUE_STRING:
                texts[i] = p.getText();
                return;
            case VALUE_NUMBER_INT:
                if (p.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                    Object typed = integer(p.getLongValue(), root);
                    if (typed != null) {
                        values[i] = typed;
                        state[i] = VALUE;
                        return;
                    }
                }
                texts[i] = p.getNumberValue().toString();
                return;
            case VALUE_NUMBER_FLOAT:
                if (root == LogicalTypeRoot.DOUBLE) {
                    double d = p.getDoubleValue();
                    if (d != 0.0 && !Double.isInfinite(d)) {
                        values[i] = d;
                        state[i] = VALUE;
                        return;
                    }
                }
                texts[i] = p.getDecimalValue().toString(); // as JSON_VALUE renders it (1E+20, 12.5)
                return;
            case VALUE_TRUE:
            case VALUE_FALSE:
                if (root == LogicalTypeRoot.BOOLEAN) {
                    values[i] = v == JsonToken.VALUE_TRUE;
                    state[i] = VALUE;
                    return;
                }
                texts[i] = v == JsonToken.VALUE_TRUE ? "true" : "false";
                return;
            case START_OBJECT:
            case START_ARRAY:
                p.skipChildren();
                state[i] = ABSENT;
                return;
            default: // JSON null
                state[i] = ABSENT;
        }
    }

    /**
     * A JSON integer as a value of {@code root}: what TRY_CAST of its text gives, or null to take
     * the text path (not an integer-typed column, or out of the column's range).
     */
    private static Object integer(long v, LogicalTypeRoot root) {
        switch (root) {
            case BIGINT:
                return v;
            case INTEGER:
                return v == (int) v ? (Object) (int) v : null;
            case SMALLINT:
                return v == (short) v ? (Object) (short) v : null;
            case TINYINT:
                return v == (byte) v ? (Object) (byte) v : null;
            case DOUBLE:
                return (double) v;
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                return TimestampData.fromEpochMillis(v);
            default:
                return null;
        }
    }

    /** TRY_CAST(text AS type) with Flink SQL's own functions; null when it does not cast. */
    private static Object convert(String text, LogicalType type) {
        try {
            switch (type.getTypeRoot()) {
                case CHAR:
                case VARCHAR:
                    return StringData.fromString(text);
                case TIMESTAMP_WITHOUT_TIME_ZONE:
                case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                    return parseTimestamp(text);
                default:
                    break;
            }
            BinaryStringData s = BinaryStringData.fromString(text).trim();
            switch (type.getTypeRoot()) {
                case BOOLEAN:
                    return BinaryStringDataUtil.toBoolean(s);
                case TINYINT:
                    return BinaryStringDataUtil.toByte(s);
                case SMALLINT:
                    return BinaryStringDataUtil.toShort(s);
                case INTEGER:
                    return BinaryStringDataUtil.toInt(s);
                case BIGINT:
                    return BinaryStringDataUtil.toLong(s);
                case FLOAT:
                    return BinaryStringDataUtil.toFloat(s);
                case DOUBLE:
                    return BinaryStringDataUtil.toDouble(s);
                case DECIMAL:
                    DecimalType d = (DecimalType) type;
                    DecimalData dec =
                            BinaryStringDataUtil.toDecimal(s, d.getPrecision(), d.getScale());
                    return dec;
                default:
                    return null;
            }
        } catch (RuntimeException e) {
            return null;
        }
    }

    /**
     * Epoch milliseconds (TO_TIMESTAMP_LTZ(TRY_CAST(text AS BIGINT), 3)), else ISO-8601 UTC text
     * (TRY_CAST(REPLACE(REPLACE(text, 'T', ' '), 'Z', '') AS TIMESTAMP(3)) read as UTC).
     */
    static TimestampData parseTimestamp(String text) {
        try {
            return TimestampData.fromEpochMillis(
                    BinaryStringDataUtil.toLong(BinaryStringData.fromString(text).trim()));
        } catch (RuntimeException notEpoch) {
            // fall through to ISO-8601
        }
        try {
            String iso = text.replace('T', ' ').replace("Z", "").trim();
            return DateTimeUtils.parseTimestampData(iso, 3);
        } catch (RuntimeException e) {
            return null;
        }
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
