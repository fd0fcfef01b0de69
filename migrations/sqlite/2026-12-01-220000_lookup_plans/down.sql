DROP INDEX resources_user_name_order;
