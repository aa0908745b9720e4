package io.github.qednio.cli;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A JSON object writer for the tool's {@code --output=json}: strings, numbers, booleans and nested objects (as
 * qemu-img info's {@code format-specific}).
 */
final class Json {
    private final Map<String, Object> fields = new LinkedHashMap<>();

    Json put(String key, Object value) {
        fields.put(key, value);
        return this;
    }

    /**
     * Puts the fields in the order qemu-img prints a QDict's: by hash bucket, as QEMU's {@code qdict_first} and
     * {@code qdict_next} walk them. No two keys the tool prints share a bucket.
     */
    Json inQemuOrder() {
        List<String> keys = new ArrayList<>(fields.keySet());
        keys.sort(Comparator.comparingInt(Json::qdictBucket));
        Map<String, Object> sorted = new LinkedHashMap<>();
        keys.forEach(k -> sorted.put(k, fields.get(k)));
        fields.clear();
        fields.putAll(sorted);
        return this;
    }

    /** QEMU's {@code tdb_hash} of the key modulo its 512 buckets, in C's unsigned 32-bit arithmetic. */
    static int qdictBucket(String key) {
        byte[] name = key.getBytes(StandardCharsets.UTF_8);
        int value = 0x238F13AF * name.length;
        for (int i = 0; i < name.length; i++) {
            value += (name[i] & 0xff) << (i * 5 % 24);
        }
        return (1103515243 * value + 12345) & 511;
    }

    /** Renders the object on one line per field, as qemu-img does. */
    String render() {
        return render("");
    }

    /** Renders the object on one line per field, each line after the first prefixed with {@code indent}. */
    String render(String indent) {
        StringBuilder sb = new StringBuilder("{");
        String sep = "\n    " + indent;
        for (Map.Entry<String, Object> e : fields.entrySet()) {
            Object v = e.getValue();
            sb.append(sep).append(quote(e.getKey())).append(": ")
                    .append(v instanceof Json j ? j.render(indent + "    ") : value(v));
            sep = ",\n    " + indent;
        }
        return sb.append("\n").append(indent).append("}").toString();
    }

    /** Renders a list of objects as qemu-img does ({@code info --backing-chain}, {@code check} of a chain). */
    static String renderArray(List<Json> objects) {
        StringBuilder sb = new StringBuilder("[");
        String sep = "\n    ";
        for (Json j : objects) {
            sb.append(sep).append(j.render("    "));
            sep = ",\n    ";
        }
        return sb.append("\n]").toString();
    }

    /** Renders the object on a single line, as qemu-img map does for its entries. */
    String renderCompact() {
        StringBuilder sb = new StringBuilder("{ ");
        String sep = "";
        for (Map.Entry<String, Object> e : fields.entrySet()) {
            sb.append(sep).append(quote(e.getKey())).append(": ").append(value(e.getValue()));
            sep = ", ";
        }
        return sb.append("}").toString();
    }

    private static String value(Object v) {
        if (v instanceof Number || v instanceof Boolean) {
            return v.toString();
        }
        return quote(String.valueOf(v));
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
