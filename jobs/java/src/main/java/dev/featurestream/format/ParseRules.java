package dev.featurestream.format;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.api.ValidationException;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What the compiler tells the format (option {@code featurestream-json.schema}): the names of the
 * payload, reason and event-time columns, and, per source column in declaration order, the
 * dead-letter reason when it is missing (required columns) or of the wrong type. The order of
 * {@link #columns} is the order in which reasons are checked: the first that applies is reported;
 * then, for an event that parsed, the {@link #keys} rules of the view (a NULL event id, a NULL or
 * blank entity key), in their order.
 */
final class ParseRules implements Serializable {
    private static final long serialVersionUID = 1L;

    static final class Column implements Serializable {
        private static final long serialVersionUID = 1L;
        final String name;
        /** The reason when absent or JSON null; null when the column is optional. */
        final String missing;
        /** The reason prefix (the raw value follows) when present but not castable; null for strings. */
        final String wrong;

        Column(String name, String missing, String wrong) {
            this.name = name;
            this.missing = missing;
            this.wrong = wrong;
        }
    }

    /** A column the event is keyed by: its reason when NULL, and when blank (text keys only). */
    static final class Key implements Serializable {
        private static final long serialVersionUID = 1L;
        final String name;
        final String whenNull;
        /** The reason when the text is empty or only spaces (SQL {@code TRIM(x) = ''}); null for non-text keys. */
        final String whenBlank;

        Key(String name, String whenNull, String whenBlank) {
            this.name = name;
            this.whenNull = whenNull;
            this.whenBlank = whenBlank;
        }
    }

    final String payload;
    final String reason;
    final String eventTime;
    final String invalid;
    final String eventTimeReason;
    final List<Column> columns;
    final List<Key> keys;

    private ParseRules(
            String payload,
            String reason,
            String eventTime,
            String invalid,
            String eventTimeReason,
            List<Column> columns,
            List<Key> keys) {
        this.payload = payload;
        this.reason = reason;
        this.eventTime = eventTime;
        this.invalid = invalid;
        this.eventTimeReason = eventTimeReason;
        this.columns = Collections.unmodifiableList(columns);
        this.keys = Collections.unmodifiableList(keys);
    }

    static ParseRules fromJson(String json) {
        try {
            JsonNode root = new ObjectMapper().readTree(json);
            List<Column> cols = new ArrayList<>();
            for (JsonNode c : root.get("columns")) {
                cols.add(new Column(c.get("name").asText(), text(c, "missing"), text(c, "wrong")));
            }
            List<Key> keys = new ArrayList<>();
            for (JsonNode k : root.get("keys")) {
                keys.add(new Key(k.get("name").asText(), k.get("null").asText(), text(k, "blank")));
            }
            return new ParseRules(
                    root.get("payload").asText(),
                    root.get("reason").asText(),
                    root.get("event_time").asText(),
                    root.get("invalid").asText(),
                    root.get("event_time_reason").asText(),
                    cols,
                    keys);
        } catch (Exception e) {
            throw new ValidationException(
                    "option 'featurestream-json.schema' is not the schema the featurestream compiler"
                            + " writes (recompile the job with this featurestream version): "
                            + e,
                    e);
        }
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }
}
