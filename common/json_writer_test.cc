#include "common/json_writer.h"

#include <gtest/gtest.h>

namespace lakesync {
namespace {

TEST(JsonWriterTest, NestedContainersAndCommas) {
  JsonWriter w;
  w.BeginObject()
      .Key("job")
      .String("sales \"dr\"\n")
      .Key("n")
      .Int(-3)
      .Key("ok")
      .Bool(true)
      .Key("none")
      .Null()
      .Key("list")
      .BeginArray()
      .Int(1)
      .BeginObject()
      .Key("a")
      .Int(2)
      .EndObject()
      .EndArray()
      .Key("empty")
      .BeginArray()
      .EndArray()
      .Key("raw")
      .Raw(R"({"x":1})")
      .EndObject();
  EXPECT_EQ(w.str(), R"({"job":"sales \"dr\"\n","n":-3,"ok":true,"none":null,"list":[1,{"a":2}],)"
                     R"("empty":[],"raw":{"x":1}})");
}

TEST(JsonWriterTest, OptionalAndDouble) {
  JsonWriter w;
  w.BeginArray()
      .Optional(std::optional<int64_t>())
      .Optional(std::optional<int64_t>(7))
      .Double(0.5)
      .Double(1.0 / 0.0)
      .String("\x01")
      .EndArray();
  EXPECT_EQ(w.str(), R"([null,7,0.5,null,"\u0001"])");
}

}  // namespace
}  // namespace lakesync
