package io.devicesync.tests.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The <b>naive peer</b> (DESIGN.md, Performance shape): the job a user would write in an afternoon
 * instead of devicesync. Kafka → Jackson → keyBy(deviceId) → one keyed function with one ValueState
 * of version and document, the increment merged into the document with Jackson's tree (a JSON merge
 * patch: null removes a member), an exactly-once Kafka sink. A version not above the stored one is
 * dropped; nothing else: no gaps, grace, audits, lookups, dead letters or alerts. Written the way
 * such a user would, not tuned: it is the yardstick, not a competitor to beat by handicapping it.
 */
final class NaivePeer {
    private NaivePeer() {}

    /** The input as the user's POJO: the increment's fields, its data kept as JSON text. */
    public static final class Event {
        public String deviceId;
        public long epoch;
        public long seq;
        public long ts;
        public String data;

        public Event() {}
    }

    /** What the keyed function keeps per device. */
    public static final class Device {
        public long epoch;
        public long seq;
        public String document;

        public Device() {}
    }

    static void build(
            StreamExecutionEnvironment env,
            String bootstrapServers,
            String eventsTopic,
            String stateTopic,
            String groupId,
            String transactionalIdPrefix) {
        KafkaSource<byte[]> source = KafkaSource.<byte[]>builder()
                .setBootstrapServers(bootstrapServers)
                .setTopics(eventsTopic)
                .setGroupId(groupId)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(ByteArrayDeserializer.class))
                .build();
        Properties producer = new Properties();
        producer.setProperty("transaction.timeout.ms", "900000");
        KafkaSink<byte[]> sink = KafkaSink.<byte[]>builder()
                .setBootstrapServers(bootstrapServers)
                .setKafkaProducerConfig(producer)
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(transactionalIdPrefix)
                .setRecordSerializer(KafkaRecordSerializationSchema.<byte[]>builder()
                        .setTopic(stateTopic)
                        .setValueSerializationSchema(new Bytes())
                        .build())
                .build();
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "Kafka: events")
                .map(new Parse(), TypeInformation.of(Event.class))
                .name("Parse")
                .keyBy(e -> e.deviceId, TypeInformation.of(String.class))
                .process(new Merge(), TypeInformation.of(byte[].class))
                .uid("naive-merge")
                .name("Merge")
                .sinkTo(sink)
                .name("Kafka: state");
    }

    /** The value as it is. */
    static final class Bytes implements SerializationSchema<byte[]> {
        @Override
        public byte[] serialize(byte[] element) {
            return element;
        }
    }

    /** Jackson's readTree; counts {@code eventsIn} like devicesync's input stage. */
    static final class Parse extends RichMapFunction<byte[], Event> {
        private transient ObjectMapper mapper;
        private transient Counter in;

        @Override
        public void open(OpenContext ctx) {
            mapper = new ObjectMapper();
            in = getRuntimeContext().getMetricGroup().counter("eventsIn");
        }

        @Override
        public Event map(byte[] value) throws Exception {
            in.inc();
            return parse(mapper, value);
        }

        static Event parse(ObjectMapper mapper, byte[] value) throws java.io.IOException {
            JsonNode n = mapper.readTree(value);
            Event e = new Event();
            e.deviceId = n.get("deviceId").asText();
            e.epoch = n.path("epoch").asLong();
            e.seq = n.get("seq").asLong();
            e.ts = n.path("ts").asLong();
            e.data = mapper.writeValueAsString(n.get("data"));
            return e;
        }
    }

    /** Drops what is not newer, merges the rest into the document, emits the new state. */
    static final class Merge extends KeyedProcessFunction<String, Event, byte[]> {
        private transient ObjectMapper mapper;
        private transient ValueState<Device> device;

        @Override
        public void open(OpenContext ctx) {
            mapper = new ObjectMapper();
            device = getRuntimeContext().getState(new ValueStateDescriptor<>("device", Device.class));
        }

        @Override
        public void processElement(Event e, Context ctx, Collector<byte[]> out) throws Exception {
            Device d = device.value();
            if (d != null && (e.epoch < d.epoch || (e.epoch == d.epoch && e.seq <= d.seq))) return;
            ObjectNode doc = d == null ? mapper.createObjectNode() : (ObjectNode) mapper.readTree(d.document);
            JsonNode patch = mapper.readTree(e.data);
            merge(doc, patch);
            if (d == null) d = new Device();
            d.epoch = e.epoch;
            d.seq = e.seq;
            d.document = mapper.writeValueAsString(doc);
            device.update(d);
            ObjectNode record = mapper.createObjectNode();
            record.put("deviceId", e.deviceId);
            record.put("epoch", e.epoch);
            record.put("seq", e.seq);
            record.put("ts", e.ts);
            record.set("state", doc);
            record.put("source", "increment");
            out.collect(mapper.writeValueAsBytes(record));
        }

        /** RFC 7386 on Jackson's tree: objects merge member by member, null removes, the rest replaces. */
        static void merge(ObjectNode target, JsonNode patch) {
            if (patch == null || !patch.isObject()) return;
            Iterator<Map.Entry<String, JsonNode>> fields = patch.fields();
            while (fields.hasNext()) {
                Map.Entry<String, JsonNode> f = fields.next();
                JsonNode v = f.getValue();
                if (v.isNull()) {
                    target.remove(f.getKey());
                } else if (v.isObject()) {
                    JsonNode existing = target.get(f.getKey());
                    ObjectNode child = existing != null && existing.isObject()
                            ? (ObjectNode) existing
                            : target.putObject(f.getKey());
                    merge(child, v);
                } else {
                    target.set(f.getKey(), v);
                }
            }
        }
    }
}
